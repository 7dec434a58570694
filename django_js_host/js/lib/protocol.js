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
  HASH_PARAMETER,
  JSON_TYPE,
  TOKEN_HEADER,
  REQUEST_ID_HEADER,
  REQUEST_ID,
  CALLABLE_NAME,
  isCallableName,
  isRequestId,
  sha1,
  callPath,
  batchPath,
  fileDigest,
  sourceHash,
  digestsHash,
};
