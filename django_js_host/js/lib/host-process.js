'use strict';
// One host process started by the manager: `js-host CONFIG --socket S --json --logfile F`.
// Its first stdout line is its status (sent once it listens); after that both pipes are read and
// dropped, since the host copies everything into its logfile anyway and a pipe nobody reads
// fills at 64 KB and freezes the host on its next log line.

const {spawn} = require('node:child_process');

const {TOKEN_ENV} = require('./config');
const {MANAGED_HOST_ENV} = require('./orphan');
const {SOURCES_MESSAGE} = require('./sources');

// A host that has not reported its status by then is stuck (a config waiting on something
// that never comes); it is killed rather than left behind.
const START_TIMEOUT = 30 * 1000;
// SIGTERM lets calls in flight finish (the host's own grace period); SIGKILL after this.
const STOP_TIMEOUT = 10 * 1000;
// What a failed start keeps of the host's stderr for its error message.
const STDERR_KEPT = 64 * 1024;

class HostStartFailed extends Error {}
HostStartFailed.prototype.name = 'HostStartFailed';

// The most common failure, and the user's to fix: the host's config file (or a file it
// loads) does not load. Its message is what the host said: the JS error, with file and line.
class ConfigDoesNotLoad extends HostStartFailed {}
ConfigDoesNotLoad.prototype.name = 'ConfigDoesNotLoad';

// How js-host.js begins the line it exits with when its config does not load (config.js's
// ConfigError): tests/js/manager-requests.test.js and manager-sources.test.js hold the two
// together.
const LOAD_FAILURE = /^js-host: cannot load config file /;

function describeExit({code, signal}) {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

// Resolves with {pid, status, exited, stop()} once the host listens; `exited` resolves with
// {code, signal} when the process ends. Rejects with HostStartFailed (its `exit` says how
// the process ended) after making sure the process is gone. onSources({sourceFiles,
// sourceHash}) is called when the host has loaded more files since.
function startHostProcess({bin, config, socket, cwd, logfile, onSources = () => {}}) {
  return new Promise((resolve, reject) => {
    const args = [bin, config, '--socket', socket, '--json', '--logfile', logfile];
    // A managed host is reached through the private directory only: a JS_HOST_TOKEN
    // exported in the developer's shell for production hosts is not for it.
    const {[TOKEN_ENV]: _token, ...env} = process.env;
    const child = spawn(process.execPath, args, {
      cwd,
      env: {...env, [MANAGED_HOST_ENV]: '1'},
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.channel?.unref(); // the manager exits with its last host, channel or not
    const exited = new Promise((done) => child.once('exit', (code, signal) => done({code, signal})));
    let stdout = '';
    let stderr = '';
    let settled = false;
    // Files loaded before the status line was read are folded into it: the IPC channel and
    // stdout are two pipes, read in no set order.
    let loadedSince = null;
    child.on('message', (message) => {
      if (message?.type !== SOURCES_MESSAGE) return;
      const sources = {sourceFiles: message.sourceFiles, sourceHash: message.sourceHash};
      if (settled) onSources(sources);
      else loadedSince = sources;
    });

    // A host that exited on its own said why on stderr (the JS error); one that was killed
    // needs the reason first.
    const fail = async (problem, {kill = false} = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (kill) child.kill('SIGKILL');
      const exit = child.pid === undefined ? null : await exited;
      const said = stderr.trim();
      const text = kill ? `${problem}${said ? `; its stderr: ${said}` : ''}` : said || problem;
      const error = !kill && LOAD_FAILURE.test(said)
        ? new ConfigDoesNotLoad(said)
        : new HostStartFailed(`${config} failed to start: ${text}`);
      error.exit = exit;
      reject(error);
    };

    const timer = setTimeout(
      () => fail(`no status line within ${START_TIMEOUT}ms; killed it`, {kill: true}),
      START_TIMEOUT,
    );
    // spawn() itself failed (a cwd that vanished): there is no process to wait for.
    child.on('error', (err) => fail(err.message));
    // 'close', not 'exit': the pipes may still hold the end of what it printed (the error).
    child.once('close', (code, signal) => fail(`it exited (${describeExit({code, signal})}) before reporting its status`));
    child.stderr.setEncoding('utf8').on('data', (text) => {
      if (stderr.length < STDERR_KEPT) stderr += text;
    });
    child.stdout.setEncoding('utf8').on('data', (text) => {
      stdout += text;
      const end = stdout.indexOf('\n');
      if (end === -1 || settled) return;
      let status;
      try {
        status = JSON.parse(stdout.slice(0, end));
      } catch {
        fail(`its first line is not a status: ${JSON.stringify(stdout.slice(0, 200))}`, {kill: true});
        return;
      }
      settled = true;
      clearTimeout(timer);
      for (const pipe of [child.stdout, child.stderr]) pipe.removeAllListeners('data').resume();
      if (loadedSince && status.config) Object.assign(status.config, loadedSince);
      resolve({pid: child.pid, status, exited, stop});
    });

    let stopping = null;
    // Resolves with how the process ended. SIGTERM first, SIGKILL if it outlives STOP_TIMEOUT.
    function stop() {
      if (!stopping) {
        const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        stopping = exited.finally(() => clearTimeout(killer));
      }
      return stopping;
    }
  });
}

module.exports = {startHostProcess, HostStartFailed, ConfigDoesNotLoad, describeExit};
