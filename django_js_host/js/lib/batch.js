'use strict';
// A batch: many calls of one function in one request, POST /batch/<name>, whose body is a
// JSON array of keyword-argument objects. Every call starts at once (async functions
// overlap, as with Promise.all) and the answer, in request order, goes out when the last
// one has answered. One HTTP round trip and one log line instead of one per call.
//
// Each result is one of {"value": output} (a string, or any JSON value), {"bytes": base64}
// (a Buffer) or {"error": {name, message, stack}}. A batch in which every call succeeded is
// a 200 array; otherwise a 500 {name: "BatchFailed", message, results: [...]}, so neither a
// caching proxy nor a client that only looks at the status takes a failure for an answer.

const {isJsonObject} = require('./body');
const {describeType} = require('./config');
const {callFunction, describeFunctionError} = require('./invoke');
const {BINARY_TYPE, TEXT_TYPE, encodeOutput, unsendable} = require('./output');
const {isStream, readWhole} = require('./stream');

// The argument objects of a batch body as {data}, or {problem} saying what is wrong with it.
function checkBatchArguments(data) {
  if (!Array.isArray(data)) {
    return {problem: `A batch body must be a JSON array of keyword-argument objects, got ${describeType(data)}`};
  }
  const bad = data.findIndex((item) => !isJsonObject(item));
  if (bad !== -1) {
    return {problem: `A batch body must be a JSON array of keyword-argument objects, but item ${bad} is ${describeType(data[bad])}`};
  }
  return {data};
}

// One result as JSON text, and its error (null for a success). An output JSON cannot hold
// (a cycle, a BigInt) fails its own call only, which is why results are encoded one by one.
function encodeResult(error, output) {
  if (!error) {
    try {
      const [type, body] = encodeOutput(output); // as a single call would answer it
      if (type === BINARY_TYPE) return [`{"bytes":"${body.toString('base64')}"}`, null];
      return [`{"value":${type === TEXT_TYPE ? JSON.stringify(body) : body}}`, null];
    } catch (err) {
      error = unsendable(err);
    }
  }
  return [JSON.stringify({error}), error];
}

// Runs fn once per item of `calls` with `context` (invoke.js's CallContext) as `this`; then done(failures, results):
// the failed calls as {index, error} in request order, and the results array as JSON text.
function runBatch(fn, calls, context, warn, done) {
  const encoded = new Array(calls.length);
  const failures = [];
  let pending = calls.length;
  if (pending === 0) {
    done(failures, '[]');
    return;
  }
  const settle = (index, error, output) => {
    const [text, failure] = encodeResult(error, output);
    encoded[index] = text;
    if (failure) failures.push({index, error: failure});
    pending -= 1;
    if (pending === 0) done(failures.sort((a, b) => a.index - b.index), `[${encoded.join(',')}]`);
  };
  calls.forEach((data, index) => {
    callFunction(fn, data, context, (error, output) => {
      if (error || !isStream(output)) {
        settle(index, error, output);
        return;
      }
      // A stream is read whole, as a single call reads it (stream.js).
      readWhole(output, context.signal).then(
        (text) => settle(index, null, text ?? null),
        (err) => settle(index, describeFunctionError(err), undefined),
      );
    }, warn);
  });
}

// The body of a 500 for a batch with failed calls; `failures` and `results` are runBatch's.
function batchFailedBody(name, total, failures, results) {
  const first = failures[0];
  const message =
    `${failures.length} of ${total} calls of "${name}" failed; ` +
    `the first, call ${first.index}: ${first.error.name}: ${first.error.message}`;
  return `{"name":"BatchFailed","function":${JSON.stringify(name)},"message":${JSON.stringify(message)},"results":${results}}`;
}

module.exports = {checkBatchArguments, runBatch, batchFailedBody};
