'use strict';
// Outputs that are streams: a Node Readable (React's renderToPipeableStream piped into a
// PassThrough), a web ReadableStream (renderToReadableStream) or any async iterable (an async
// generator). Their chunks are text: strings, or bytes of UTF-8.
//
// POST /stream/<name> sends the chunks as they come, as the records protocol.js describes
// (sendStream); a plain call or a batch reads the stream whole and answers it as text
// (readWhole). Either way, when the call's signal aborts (its connection closed before the
// answer), the stream is cancelled: a Readable destroyed, a ReadableStream cancelled, an
// async iterator's return() called.

const {describeType} = require('./config-error');
const {STREAM_DATA, STREAM_END, STREAM_ERROR, streamRecord} = require('./protocol');

const ABORTED = Symbol('aborted');

function isStream(output) {
  return (
    output !== null &&
    typeof output === 'object' &&
    (typeof output.getReader === 'function' || typeof output[Symbol.asyncIterator] === 'function')
  );
}

// {next(), cancel()} over a stream's chunks.
function openSource(stream) {
  if (typeof stream.getReader === 'function') {
    const reader = stream.getReader();
    return {next: () => reader.read(), cancel: (reason) => reader.cancel(reason)};
  }
  const iterator = stream[Symbol.asyncIterator]();
  // A Readable's iterator would destroy it only once its pending read settles; destroy()
  // stops it now. An async generator waiting on something ends at its next yield (it can
  // stop sooner by watching this.signal).
  const cancel = typeof stream.destroy === 'function' ? () => stream.destroy() : () => iterator.return?.();
  return {next: () => iterator.next(), cancel};
}

function abortedPromise(signal) {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(ABORTED), {once: true}));
}

// Reads `stream` into onChunk(chunk) until it ends (resolves true) or `signal` aborts
// (resolves false); rejects with the stream's error, or onChunk's. onChunk may return a
// promise: the next chunk is read once it settles. A stream not read to its end is
// cancelled.
async function pull(stream, signal, onChunk) {
  const source = openSource(stream);
  const aborted = abortedPromise(signal);
  let ended = false;
  try {
    for (;;) {
      const step = await Promise.race([source.next(), aborted]);
      if (step === ABORTED) return false;
      if (step.done) {
        ended = true;
        return true;
      }
      const wait = onChunk(step.value);
      if (wait !== undefined && (await Promise.race([wait, aborted])) === ABORTED) return false;
    }
  } finally {
    if (!ended) {
      try {
        // A stream that fails as it is cancelled has nothing more to say to anyone.
        Promise.resolve(source.cancel(signal.reason)).catch(() => {});
      } catch {
        // Likewise for a cancel that throws.
      }
    }
  }
}

function checkChunk(chunk) {
  if (typeof chunk === 'string' || chunk instanceof Uint8Array) return chunk;
  throw new TypeError(`A stream's chunks must be strings or bytes (a Buffer or Uint8Array), got ${describeType(chunk)}`);
}

// The whole text of `stream`: resolves with it, or with undefined if `signal` aborted first.
async function readWhole(stream, signal) {
  const decoder = new TextDecoder();
  let text = '';
  const ended = await pull(stream, signal, (chunk) => {
    checkChunk(chunk);
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, {stream: true});
  });
  return ended ? text + decoder.decode() : undefined;
}

// Resolves once `res` has taken what is buffered, or the call aborted. A client that takes
// nothing for `writeTimeout` ms is dropped, which aborts the call.
function drained(res, writeTimeout) {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => res.destroy(), writeTimeout);
    const done = () => {
      clearTimeout(timer);
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

// Sends `stream` on `res` as records as its chunks come, with the head (`writeHead()`)
// before the first. Resolves with how it went, for the caller to log:
// - {outcome: 'ended', chunks}: all sent, and the end record;
// - {outcome: 'aborted', chunks}: the connection closed first; nothing more is sent;
// - {outcome: 'failed', chunks, error}: the stream failed after `chunks` chunks went out; the
//   error record is sent (`error` is describeError()'s) and the connection closed unended;
// - {outcome: 'failed early', thrown}: the stream failed before its first chunk, and nothing
//   was sent: the caller answers as for any failed call (a 500).
async function sendStream(res, stream, {signal, writeHead, describeError, writeTimeout}) {
  let chunks = 0;
  let ended;
  try {
    ended = await pull(stream, signal, (chunk) => {
      checkChunk(chunk);
      if (chunk.length === 0) return undefined; // an empty chunk would read as the body's end
      if (chunks === 0) writeHead();
      chunks += 1;
      return res.write(streamRecord(STREAM_DATA, chunk)) ? undefined : drained(res, writeTimeout);
    });
  } catch (thrown) {
    if (signal.aborted) return {outcome: 'aborted', chunks};
    if (chunks === 0) return {outcome: 'failed early', thrown};
    const error = describeError(thrown);
    // Closed once the error record is out: destroying at once could drop it unsent.
    const timer = setTimeout(() => res.destroy(), writeTimeout);
    res.write(streamRecord(STREAM_ERROR, JSON.stringify(error)), () => {
      clearTimeout(timer);
      res.destroy();
    });
    return {outcome: 'failed', chunks, error};
  }
  if (!ended) return {outcome: 'aborted', chunks};
  if (chunks === 0) writeHead();
  res.end(streamRecord(STREAM_END, ''));
  return {outcome: 'ended', chunks};
}

module.exports = {isStream, readWhole, sendStream};
