'use strict';
// The wire rules the host and Python share: paths, the name rule, the headers, the hash of
// a call's body and the hash of a host's source files. django_js_host/protocol.py is the
// Python copy; tests/test_protocol.py runs this module and holds the two equal, so change
// both together.

const crypto = require('node:crypto');
const fs = require('node:fs');

const STATUS_PATH = '/status';
const FUNCTION_PATH = '/function/';
const BATCH_PATH = '/batch/';
// POST /stream/<name>: a call whose answer may come in pieces (its own path, so a cache
// keyed on the URL never gives a streamed answer to a plain call, or the reverse).
const STREAM_PATH = '/stream/';
// POST /function/<name>?hash=<sha1 hex of the exact body bytes>: a caching proxy keys on it.
const HASH_PARAMETER = 'hash';
const JSON_TYPE = 'application/json';
// The shared token of a host that has one (host.config.js `token`, or JS_HOST_TOKEN).
const TOKEN_HEADER = 'X-JS-Host-Token';

// The id a call carries (Python sends Django's X-Request-ID, or one it made); the host logs
// it and gives it to the function as this.requestId. One that breaks the rule is ignored:
// it goes into log lines, which must stay one line each and plain.
const REQUEST_ID_HEADER = 'X-Request-ID';
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,200}$/;
// A streamed answer: 200 with this Content-Type, sent in chunks as the function's stream
// gives them, is a series of records. A record is its kind (one letter), its payload's
// length in bytes (decimal), ':' and the payload. STREAM_DATA records carry the text, UTF-8
// split anywhere; the last record is STREAM_END (empty payload), or STREAM_ERROR, whose
// payload is the error as JSON {name, message, stack, function}, after which the host
// closes the connection without ending the chunked body, so that no client or proxy can
// take a stream that failed for a complete answer. A plain answer (any other Content-Type)
// to a stream call is the function's output whole, as a call answers it.
const STREAM_TYPE = 'application/x-js-host-stream';
const STREAM_DATA = 'd';
const STREAM_ERROR = 'e';
const STREAM_END = 'z';

// Names travel as a raw URL path segment, never percent-decoded, so only characters that
// need no escaping can be called; '.' and '..' would be rewritten by URL normalisers.
const CALLABLE_NAME = /^[A-Za-z0-9_$.-]+$/;

function isCallableName(name) {
  return typeof name === 'string' && CALLABLE_NAME.test(name) && name !== '.' && name !== '..';
}

function isRequestId(value) {
  return typeof value === 'string' && REQUEST_ID.test(value);
}

// One-shot where Node has it (crypto.hash: Node >= 20.12 or 21.7): no Hash object per call.
const sha1 =
  typeof crypto.hash === 'function'
    ? (bytes) => crypto.hash('sha1', bytes)
    : (bytes) => crypto.createHash('sha1').update(bytes).digest('hex');

// The path of a call of `name` whose body is `body` (a string or bytes).
function callPath(name, body) {
  return `${FUNCTION_PATH}${name}?${HASH_PARAMETER}=${sha1(body)}`;
}

function batchPath(name, body) {
  return `${BATCH_PATH}${name}?${HASH_PARAMETER}=${sha1(body)}`;
}

function streamPath(name, body) {
  return `${STREAM_PATH}${name}?${HASH_PARAMETER}=${sha1(body)}`;
}

// One record of a streamed answer: a string for a string payload, else a Buffer.
function streamRecord(kind, payload) {
  if (typeof payload === 'string') return `${kind}${Buffer.byteLength(payload)}:${payload}`;
  return Buffer.concat([Buffer.from(`${kind}${payload.byteLength}:`, 'latin1'), payload]);
}

// The sha1 hex of a file's bytes, or "missing" when it cannot be read.
function fileDigest(file) {
  try {
    return sha1(fs.readFileSync(file));
  } catch {
    return 'missing';
  }
}

// A host's sourceHash: sha1 hex over, for each path in the order given, `path + "\0" +
// fileDigest(path) + "\n"`, in UTF-8. Python recomputes it from the host's sourceFiles to
// tell whether the host runs old code.
function sourceHash(paths) {
  return digestsHash(paths.map((file) => [file, fileDigest(file)]));
}

// The same recipe over [path, digest] pairs: a host hashes the digests its files had when
// it loaded them.
function digestsHash(entries) {
  const hash = crypto.createHash('sha1');
  for (const [file, digest] of entries) hash.update(`${file}\0${digest}\n`);
  return hash.digest('hex');
}

module.exports = {
  STATUS_PATH,
  FUNCTION_PATH,
  BATCH_PATH,
  STREAM_PATH,
  HASH_PARAMETER,
  JSON_TYPE,
  TOKEN_HEADER,
  REQUEST_ID_HEADER,
  REQUEST_ID,
  STREAM_TYPE,
  STREAM_DATA,
  STREAM_ERROR,
  STREAM_END,
  CALLABLE_NAME,
  isCallableName,
  isRequestId,
  sha1,
  callPath,
  batchPath,
  streamPath,
  streamRecord,
  fileDigest,
  sourceHash,
  digestsHash,
};
