'use strict';
// `js-host --manager --detach`: starts the manager as a detached process and returns once
// it listens. Python runs this with subprocess.run and waits for it, so the manager ends up
// a grandchild reparented away from Python (no zombie left there), in a session of its own
// (a Ctrl-C in runserver's terminal does not reach it). The manager's stdout and stderr
// are its logfile, or nothing: no one reads a pipe once this process has exited. So it
// reports how its start went over an IPC channel instead.

const {spawn} = require('node:child_process');
const fs = require('node:fs');

// Listening takes milliseconds; this only keeps a wedged start from hanging its caller, and
// is well under the 30 s Python waits for this process, so the wedged manager is killed
// here rather than left behind when Python gives up first.
const READY_TIMEOUT = 10 * 1000;

// Resolves with the line the manager printed once listening (its status JSON with --json);
// rejects with an Error whose message is the text to print: the manager's own error text
// when it failed to start. `args`: the manager's command line (without --detach and --logfile).
function startDetached(args, logfile) {
  return new Promise((resolve, reject) => {
    let output = 'ignore';
    try {
      // Opened here, so that a bad logfile is reported by a process that has a stderr.
      if (logfile) output = fs.openSync(logfile, 'a');
    } catch (err) {
      reject(new Error(`js-host: cannot open logfile ${logfile}: ${err.message}`));
      return;
    }
    const child = spawn(process.execPath, args, {detached: true, stdio: ['ignore', output, output, 'ipc']});
    if (logfile) fs.closeSync(output);
    const seeLogfile = logfile ? `; see ${logfile}` : '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`js-host: the manager (pid ${child.pid}) did not report within ${READY_TIMEOUT}ms; killed it${seeLogfile}`));
    }, READY_TIMEOUT);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`js-host: cannot start the manager: ${err.message}`));
    });
    child.once('message', (message) => {
      clearTimeout(timer);
      if (message.failed !== undefined) {
        reject(new Error(message.failed));
      } else {
        // The manager lets go of the channel itself (reportStart), and the caller exits.
        resolve(message.listening);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`js-host: the manager exited (${signal ?? `exit code ${code}`}) before listening${seeLogfile}`));
    });
  });
}

// In the manager: tells the `--detach` process how the start went ({listening: line} or
// {failed: text}), then lets go of the channel so the manager depends on no one. Resolves
// once sent, or at once when the manager was not started with --detach.
function reportStart(message) {
  return new Promise((resolve) => {
    if (!process.connected) {
      resolve();
      return;
    }
    process.send(message, () => {
      process.disconnect();
      resolve();
    });
  });
}

module.exports = {startDetached, reportStart};
