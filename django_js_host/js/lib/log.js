'use strict';
// Log lines go to stdout (calls, lifecycle) or stderr (errors, warnings). With a logfile,
// everything written to either stream, the user's console.log included, is also appended
// there.
//
// The per-call line is on the hot path, and stdout is written synchronously (files, and
// pipes on Linux): a write per call was the largest part of the CPU the host adds to a call
// (with --logfile, an asynchronous write per call, more still). So those lines (infoBatched) are buffered and go out at most FLUSH_DELAY after
// the first of them, or at once when the buffer passes FLUSH_SIZE: one write to stdout and
// one to the logfile for all the calls answered meanwhile. (Once per event-loop turn was
// not enough: with one client waiting on each answer, a turn answers one call.) Nothing is
// reordered or lost:
// - every other line (info, error) and anything else written to stdout or stderr
//   (console.log, a config printing) first writes what is buffered, then goes out at once;
//   so each stream and the logfile keep the order things were written in, and a lifecycle
//   line or an error is out before the answer that follows it;
// - close() and the process's 'exit' write what is left, synchronously.

const fs = require('node:fs');

// How long a per-call line may wait for others to go out with, in ms; too short to notice
// in a log, long enough that a busy host writes once for many calls.
const FLUSH_DELAY = 10;
// Past this many characters buffered, the lines are written without waiting.
const FLUSH_SIZE = 64 * 1024;

// A stdout/stderr whose reader went away (`js-host ... | head -1`, a parent that exited)
// emits EPIPE; unhandled, that 'error' would crash the host over a log line.
function ignoreBrokenPipe(stream) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

// The logfile, appended to with synchronous writes: they are batched like the lines, so
// there are few, and nothing is left in flight when the process exits. It is opened
// synchronously so a bad path fails at start-up, where the CLI can report it. A failing
// write (disk full) stops the copying, which is said once through `complain`.
function openLogfile(logfile, complain) {
  const fd = fs.openSync(logfile, 'a');
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      fs.closeSync(fd);
    } catch {
      // Closing was all that was left to do with it.
    }
  };
  const write = (chunk, encoding) => {
    if (!open) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    try {
      for (let offset = 0; offset < bytes.byteLength; ) offset += fs.writeSync(fd, bytes, offset);
    } catch (err) {
      close();
      complain(`js-host: cannot write to logfile ${logfile}, logging to stdout/stderr only: ${err.message}\n`);
    }
  };
  return {write, close};
}

// Replaces stream.write so each chunk written by anyone but the logger (which uses the
// original, returned as `write`) is held back while holding() says so, or else goes out after
// `before()` (the logger's pending lines) and is copied to the logfile. Patching write (not
// wrapping console) is what catches every writer.
function interceptWrites(stream, {before, copy, holding}) {
  const write = stream.write.bind(stream);
  const held = [];
  stream.write = (chunk, encoding, callback) => {
    if (holding()) {
      held.push([chunk, encoding, callback]);
      return true;
    }
    before();
    copy(chunk, typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : undefined);
    return write(chunk, encoding, callback);
  };
  return {write, held};
}

// `holdStdout`: keep stdout back until releaseStdout() has written its line, because Python
// reads the first stdout line (--json) to learn the port, and a config may print while loading.
// One logger per process: it takes over process.stdout and process.stderr.
function createLogger({logfile, holdStdout = false} = {}) {
  ignoreBrokenPipe(process.stdout);
  ignoreBrokenPipe(process.stderr);
  const stderrWrite = process.stderr.write.bind(process.stderr);
  let file = logfile ? openLogfile(logfile, (text) => stderrWrite(text)) : null;
  let holding = holdStdout;
  // The per-call lines not written yet, oldest first.
  let batch = '';
  let flushScheduled = false;

  const copy = (chunk, encoding) => file && file.write(chunk, encoding);
  const stdout = interceptWrites(process.stdout, {before: flushBatch, copy, holding: () => holding});
  const stderr = interceptWrites(process.stderr, {before: flushBatch, copy, holding: () => false});

  // Through the stream's own write, so the text is not copied to the logfile twice.
  function send(write, text) {
    write(text);
    copy(text);
  }

  function flushBatch() {
    if (batch === '') return;
    const text = batch;
    batch = '';
    send(stdout.write, text);
  }

  // One timer, made here and re-armed with refresh(): no timer object per flush, and its
  // callback runs outside the async context of whichever call logged first. Unref'd, as the
  // 'exit' handler writes what is left.
  const flushTimer = setTimeout(() => {
    flushScheduled = false;
    flushBatch();
  }, FLUSH_DELAY).unref();
  process.on('exit', flushBatch);

  // While stdout is held back, the logger's lines wait with everything else written to it.
  function info(line) {
    if (holding) {
      process.stdout.write(`${line}\n`);
    } else {
      flushBatch();
      send(stdout.write, `${line}\n`);
    }
  }

  return {
    info,
    // A stdout line that can wait up to FLUSH_DELAY: the per-call line.
    infoBatched(line) {
      if (holding) {
        process.stdout.write(`${line}\n`);
        return;
      }
      batch += `${line}\n`;
      if (batch.length > FLUSH_SIZE) {
        flushBatch();
      } else if (!flushScheduled) {
        flushScheduled = true;
        flushTimer.refresh();
      }
    },
    error(line) {
      flushBatch();
      send(stderr.write, `${line}\n`);
    },
    // Ends holding stdout back: writes `firstLine` (if any) first, then what was held.
    releaseStdout(firstLine) {
      holding = false;
      if (firstLine !== undefined) info(firstLine);
      for (const write of stdout.held.splice(0)) process.stdout.write(...write);
    },
    // Resolves once everything written so far is out, on both streams and in the logfile,
    // so that exiting next loses nothing (stdout is asynchronous on some platforms).
    close() {
      flushBatch();
      if (file) {
        file.close();
        file = null;
      }
      return Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
    },
  };
}

// An ISO 8601 UTC time to the millisecond, as Date#toISOString() writes it, for every log
// line. toISOString() cost a busy host more than the rest of the line, so it runs once per
// second, for the part before the milliseconds; and the whole string is kept for the lines
// of the same millisecond.
let timestampMs = -1;
let timestampText = '';
let secondMs = -1;
let secondPrefix = '';
function timestamp() {
  const now = Date.now();
  if (now !== timestampMs) {
    const ms = now % 1000;
    if (now - ms !== secondMs) {
      secondMs = now - ms;
      secondPrefix = new Date(secondMs).toISOString().slice(0, -4);
    }
    timestampMs = now;
    timestampText = `${secondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
  }
  return timestampText;
}

module.exports = {createLogger, timestamp};
