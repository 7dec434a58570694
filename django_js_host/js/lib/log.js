'use strict';
// Log lines go to stdout (calls, lifecycle) or stderr (errors, warnings). With a logfile,
// everything written to either stream, the user's console.log included, is also appended
// there. The per-call line is on the hot path, so the logfile is a write stream (no sync fs
// write per call).

const fs = require('node:fs');

// A stdout/stderr whose reader went away (`js-host ... | head -1`, a parent that exited)
// emits EPIPE; unhandled, that 'error' would crash the host over a log line.
function ignoreBrokenPipe(stream) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

// Replaces stream.write so each chunk is also copied to the logfile, or held back while
// holding() says so. Patching write (not wrapping console) is what catches every writer.
function interceptWrites(stream, copy, holding) {
  const write = stream.write.bind(stream);
  const held = [];
  stream.write = (chunk, encoding, callback) => {
    if (holding()) {
      held.push([chunk, encoding, callback]);
      return true;
    }
    copy(chunk, typeof encoding === 'string' ? encoding : undefined);
    return write(chunk, encoding, callback);
  };
  return held;
}

// `holdStdout`: keep stdout back until releaseStdout() has written its line, because Python reads
// the first stdout line (--json) to learn the port, and a config may print while loading.
// The logfile is opened synchronously so a bad path fails at start-up, where the CLI can
// report it, instead of as a stream error later.
function createLogger({logfile, holdStdout = false} = {}) {
  ignoreBrokenPipe(process.stdout);
  ignoreBrokenPipe(process.stderr);
  let file = logfile ? fs.createWriteStream(logfile, {fd: fs.openSync(logfile, 'a')}) : null;
  if (file) {
    file.on('error', (err) => {
      file = null;
      process.stderr.write(`js-host: cannot write to logfile ${logfile}, logging to stdout/stderr only: ${err.message}\n`);
    });
  }
  let holding = holdStdout;
  const copy = (chunk, encoding) => {
    if (file) file.write(chunk, encoding);
  };
  const heldStdout = file || holding ? interceptWrites(process.stdout, copy, () => holding) : [];
  if (file) interceptWrites(process.stderr, copy, () => false);

  const info = (line) => process.stdout.write(`${line}\n`);
  return {
    info,
    error: (line) => process.stderr.write(`${line}\n`),
    // Ends holding stdout back: writes `firstLine` (if any) first, then what was held.
    releaseStdout(firstLine) {
      holding = false;
      if (firstLine !== undefined) info(firstLine);
      for (const write of heldStdout.splice(0)) process.stdout.write(...write);
    },
    // Resolves once everything written so far is out, on both streams and in the logfile,
    // so that exiting next loses nothing (stdout is asynchronous on some platforms).
    close() {
      const flushed = [process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve)));
      if (file) {
        const closing = file;
        file = null;
        flushed.push(new Promise((resolve) => closing.end(resolve)));
      }
      return Promise.all(flushed);
    },
  };
}

function timestamp() {
  return new Date().toISOString();
}

module.exports = {createLogger, timestamp};
