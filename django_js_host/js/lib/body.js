'use strict';
// Request bodies in, replies out, for both the host and the manager. Replies carry
// Content-Length so the Python client and any caching proxy in front see complete, sized
// answers; only a streamed answer (stream.js) is chunked. Errors are JSON {name, message}:
// the Python client reads them.

const {JSON_TYPE} = require('./protocol');

// Past the limit the rest of a body is still read and thrown away, because Python's
// http.client sends its whole body before it reads the answer: closing under it would give
// it a reset instead of our 413 (on Node 20, from a ~2 MB body on). Draining is bounded,
// at a few times the limit but never under 16 MB (a few ms on loopback), or a huge upload
// would cost a lot of reading for nothing.
const DRAIN_FACTOR = 4;
const DRAIN_FLOOR = 16 * 1024 * 1024;

// The Content-Length header as a number, NaN without one. Read from rawHeaders: the first
// use of req.headers builds an object of every header, for this one value.
function announcedLength(req) {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 14 && raw[i].toLowerCase() === 'content-length') return Number(raw[i + 1]);
  }
  return NaN;
}

// Calls done(body, drained): body is the whole body as a Buffer, or null when it is over
// `limit` bytes; drained is false when we gave up reading a body too big to drain, so the
// answer must close the connection. If the client goes away first, done is never called.
function readBody(req, limit, done) {
  const drainLimit = Math.max(limit * DRAIN_FACTOR, DRAIN_FLOOR);
  const announced = announcedLength(req);
  if (announced > drainLimit) {
    done(null, false);
    return;
  }
  const chunks = [];
  let received = 0;
  let overLimit = announced > limit;
  let finished = false;
  req.on('data', (chunk) => {
    if (finished) return;
    received += chunk.length;
    if (received > drainLimit) {
      finished = true;
      done(null, false);
    } else if (received > limit) {
      overLimit = true;
      chunks.length = 0;
    } else if (!overLimit) {
      chunks.push(chunk);
    }
  });
  req.on('end', () => {
    if (finished) return;
    finished = true;
    done(overLimit ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received), true);
  });
}

// Calls done(drained) once the body of a request we will refuse has been read and thrown
// away, so the refusal can go out on a connection that stays usable.
function discardBody(req, done) {
  readBody(req, 0, (body, drained) => done(drained));
}

// `body` is a string or a Buffer. Returns false when the client is gone and nothing was sent.
// What the kernel could not take at once waits in memory for the client to read it: a
// client that does not within `writeTimeout` ms is dropped, and that memory freed.
function send(res, status, contentType, body, headers, writeTimeout) {
  if (res.destroyed || res.writableEnded) return false;
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType,
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
  });
  res.end(body);
  const {socket} = res;
  if (writeTimeout !== undefined && socket && socket.writableLength > 0) dropUnlessTaken(res, socket, writeTimeout);
  return true;
}

function dropUnlessTaken(res, socket, writeTimeout) {
  const timer = setTimeout(() => socket.destroy(), writeTimeout);
  timer.unref();
  const taken = () => clearTimeout(timer);
  res.once('finish', taken);
  res.once('close', taken);
}

// fatal: a body that is not UTF-8 is refused rather than silently decoded with U+FFFD.
const utf8 = new TextDecoder('utf-8', {fatal: true});

class InvalidJSON extends Error {}
InvalidJSON.prototype.name = 'InvalidJSON';

class JSONTooDeep extends Error {}
JSONTooDeep.prototype.name = 'JSONTooDeep';

// What the manager allows (a host has its config's maxJsonDepth).
const DEFAULT_MAX_DEPTH = 512;

// True if JSON text nests arrays and objects deeper than `limit`: counted before parsing,
// as JSON.parse of millions of '[' costs hundreds of MB that the process keeps. One pass
// over the bytes (about 1.5 ms per MB), stopping at the first level past the limit.
function nestsDeeperThan(bytes, limit) {
  if (bytes.length <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === 0x5c) i++; // a backslash: skip what it escapes
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > limit) return true;
    } else if (byte === 0x5d || byte === 0x7d) {
      depth--;
    }
  }
  return false;
}

// The JSON value of a request body; an empty body is {}. Throws InvalidJSON, saying why,
// for a body that is not UTF-8 or not JSON, and JSONTooDeep for one that nests deeper than
// `maxDepth`: both servers answer them with a 400.
function parseJsonBody(bytes, maxDepth = DEFAULT_MAX_DEPTH) {
  if (nestsDeeperThan(bytes, maxDepth)) {
    throw new JSONTooDeep(`Request body nests arrays or objects more than ${maxDepth} levels deep (maxJsonDepth)`);
  }
  try {
    return bytes.length === 0 ? {} : JSON.parse(utf8.decode(bytes));
  } catch (err) {
    throw new InvalidJSON(`Request body is not valid UTF-8 JSON: ${err.message}`);
  }
}

// What both servers take as a body: keyword arguments, or the fields of a manager request.
function isJsonObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// The replies of a server whose connections shutdown.js tracks; `writeTimeout`: see send().
function createReplies(connections, {writeTimeout} = {}) {
  // Every answer goes out here: while the server stops it tells the client not to reuse the
  // connection, so in-flight calls finish and their sockets close. Returns what send() does.
  function reply(res, statusCode, contentType, body, headers) {
    const allHeaders = connections.closing ? {...headers, Connection: 'close'} : headers;
    return send(res, statusCode, contentType, body, allHeaders, writeTimeout);
  }

  function replyJson(res, statusCode, payload, headers) {
    return reply(res, statusCode, JSON_TYPE, JSON.stringify(payload), headers);
  }

  // The head of an answer whose body follows in chunks (stream.js); false when the client is gone.
  function writeChunkedHead(res, statusCode, contentType, headers) {
    if (res.destroyed || res.writableEnded) return false;
    const allHeaders = {...headers, 'Content-Type': contentType};
    if (connections.closing) allHeaders.Connection = 'close';
    res.writeHead(statusCode, allHeaders);
    return true;
  }

  // Answers a request refused before its body was read, with the error {name, message}, once
  // the body has been thrown away (Connection: close if it was too big to); then `done()`.
  function refuse(req, res, statusCode, {name, message}, headers, done) {
    discardBody(req, (drained) => {
      replyJson(res, statusCode, {name, message}, drained ? headers : {...headers, Connection: 'close'});
      if (done) done();
    });
  }

  return {reply, replyJson, writeChunkedHead, refuse};
}

module.exports = {JSON_TYPE, readBody, parseJsonBody, isJsonObject, createReplies};
