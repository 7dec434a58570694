'use strict';
// Request bodies in, replies out. Replies always carry Content-Length (never chunked) so
// the Python client and any caching proxy in front see complete, sized answers.

// Past the limit the rest of a body is still read and thrown away, because Python's
// http.client sends its whole body before it reads the answer: closing under it would give
// it a reset instead of our 413 (on Node 20, from a ~2 MB body on). Draining is bounded,
// at a few times the limit but never under 16 MB (a few ms on loopback), or a huge upload
// would cost a lot of reading for nothing.
const DRAIN_FACTOR = 4;
const DRAIN_FLOOR = 16 * 1024 * 1024;

// Calls done(body, drained): body is the whole body as a Buffer, or null when it is over
// `limit` bytes; drained is false when we gave up reading a body too big to drain, so the
// answer must close the connection. If the client goes away first, done is never called.
function readBody(req, limit, done) {
  const drainLimit = Math.max(limit * DRAIN_FACTOR, DRAIN_FLOOR);
  const announced = Number(req.headers['content-length']);
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
function send(res, status, contentType, body, headers) {
  if (res.destroyed || res.writableEnded) return false;
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType,
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length,
  });
  res.end(body);
  return true;
}

module.exports = {readBody, discardBody, send};
