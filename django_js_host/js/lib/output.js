'use strict';
// How a function's output goes on the wire, for a single call (host.js) and for each call of
// a batch (batch.js): a string as text, bytes (a Buffer or any Uint8Array) as binary, any
// other value as JSON.

const {JSON_TYPE} = require('./body');
const {describeFunctionError} = require('./invoke');

const TEXT_TYPE = 'text/plain; charset=utf-8';
const BINARY_TYPE = 'application/octet-stream';

// [content type, body] of an output. JSON.stringify may throw (a cycle, a BigInt): the
// caller answers that as the function's error, unsendable(err).
function encodeOutput(output) {
  if (typeof output === 'string') return [TEXT_TYPE, output];
  if (output instanceof Uint8Array) {
    return [BINARY_TYPE, Buffer.from(output.buffer, output.byteOffset, output.byteLength)];
  }
  // undefined, functions and symbols have no JSON form.
  return [JSON_TYPE, JSON.stringify(output) ?? 'null'];
}

// The function error {name, message, stack} for an output encodeOutput could not encode.
function unsendable(err) {
  return {...describeFunctionError(err), message: `Cannot send the output as JSON: ${err.message}`};
}

module.exports = {TEXT_TYPE, BINARY_TYPE, encodeOutput, unsendable};
