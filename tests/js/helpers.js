'use strict';
// Shared by the host tests: start real hosts as child processes and talk to them over real
// HTTP. Every child is stopped through its own ChildProcess handle (its PID), never by name.

const {spawn} = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '../..');
const BIN = path.join(REPO, 'django_js_host/js/bin/js-host.js');
const STOP_TIMEOUT = 5000;
const START_TIMEOUT = 10000;

function fixture(name) {
  return path.join(__dirname, 'fixtures', name);
}

function sha1(bytes) {
  return crypto.createHash('sha1').update(bytes).digest('hex');
}

// A fresh temp dir for files a test writes (bad configs, logfiles); removed by the caller.
function makeTempDir() {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'js-host-test-')));
}

// A copy of tests/fixtures/module-project (a "type": "module" project) in `dir` (a fresh
// temp dir by default), for tests that edit its files; its node_modules is the repository's
// (a symlink), as `npm ci` installed it. Removed by the caller.
function copyModuleProject(dir = makeTempDir()) {
  fs.cpSync(path.join(REPO, 'tests/fixtures/module-project'), dir, {recursive: true});
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function spawnBin(args, options) {
  const child = spawn(process.execPath, [BIN, ...args], {stdio: ['ignore', 'pipe', 'pipe'], ...options});
  const output = {stdout: '', stderr: ''};
  child.stdout.setEncoding('utf8').on('data', (text) => (output.stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text) => (output.stderr += text));
  // Resolves with {code, signal} once the process has exited and its pipes are drained.
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({code, signal})));
  return {child, output, exited};
}

// Waits for a spawned js-host ({child, exited}) to exit, killing it by its handle if it
// outlives `timeout`: then the result also has timedOut: true.
async function waitForExit({child, exited}, timeout) {
  let timer;
  const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, timeout, 'timeout')));
  const result = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (result !== 'timeout') return result;
  child.kill('SIGKILL');
  const killed = await exited;
  return {...killed, timedOut: true};
}

// Resolves with the first stdout line of a spawnBin() process (a host's or a manager's
// status); rejects if it exits first or prints nothing within START_TIMEOUT, killing it then.
function readFirstLine({child, output, exited}, what) {
  let timer;
  return new Promise((resolve, reject) => {
    const onData = () => {
      const end = output.stdout.indexOf('\n');
      if (end !== -1) {
        child.stdout.off('data', onData);
        resolve(output.stdout.slice(0, end));
      }
    };
    child.stdout.on('data', onData);
    onData();
    exited.then(({code, signal}) => reject(new Error(`${what} exited (${code ?? signal}) before its first line:\n${output.stderr}`)));
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} printed nothing within ${START_TIMEOUT}ms:\n${output.stderr}`));
    }, START_TIMEOUT);
  }).finally(() => clearTimeout(timer));
}

// Runs the CLI to completion: {code, signal, stdout, stderr}.
async function runCli(args, {timeout = 10000, cwd} = {}) {
  const cli = spawnBin(args, {cwd});
  const {code, signal, timedOut} = await waitForExit(cli, timeout);
  if (timedOut) throw new Error(`js-host ${args.join(' ')} did not exit within ${timeout}ms`);
  return {code, signal, ...cli.output};
}

// The headers Python sends with a call; a test gives others, or null to leave one out.
function requestHeaders(method, given) {
  const headers = method === 'POST' ? {'content-type': 'application/json'} : {};
  for (const [name, value] of Object.entries(given)) {
    if (value === null) delete headers[name.toLowerCase()];
    else headers[name.toLowerCase()] = value;
  }
  return headers;
}

// `target`: a port on 127.0.0.1, or the path of a Unix socket.
function request(target, {method = 'POST', path: urlPath, body, headers = {}, agent = false}) {
  const where = typeof target === 'string' ? {socketPath: target} : {host: '127.0.0.1', port: target};
  return new Promise((resolve, reject) => {
    const req = http.request({...where, method, path: urlPath, headers: requestHeaders(method, headers), agent}, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: bytes,
          text: bytes.toString('utf8'),
          json: () => JSON.parse(bytes.toString('utf8')),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Starts a host on an OS-assigned port, or on the Unix socket `socket`, and reads the first
// stdout line: the status JSON with --json, "Host listening at address:port" (or
// "unix:/path") without. `env`: the host's environment (the test's by default).
async function startHost(config, {args = [], json = true, cwd, socket = null, env} = {}) {
  const listen = socket === null ? ['--port', '0'] : ['--socket', socket];
  const started = spawnBin([config, ...listen, ...(json ? ['--json'] : []), ...args], {cwd, env});
  const {child, output, exited} = started;
  const firstLine = await readFirstLine(started, 'the host');
  const status = json ? JSON.parse(firstLine) : null;
  const port = socket !== null ? null : json ? status.config.port : Number(/^Host listening at \S+:(\d+)/.exec(firstLine)?.[1]);
  const target = socket ?? port;
  return {
    child,
    exited,
    output,
    firstLine,
    status,
    port,
    socket,
    request: (options) => request(target, options),
    // POSTs JSON kwargs (or a raw `body`) to /function/<name>.
    call(name, kwargs = {}, {body = JSON.stringify(kwargs), hash = null, headers, agent} = {}) {
      const query = hash === null ? '' : `?hash=${hash}`;
      return request(target, {path: `/function/${name}${query}`, body, headers, agent});
    },
    // Sends `signal` (by this child's handle) and waits for the exit, SIGKILL after a timeout.
    async stop(signal = 'SIGTERM', timeout = STOP_TIMEOUT) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return waitForExit(started, timeout);
    },
  };
}

// `predicate` may be async (ask the host something).
async function waitFor(predicate, {timeout = 3000, what = 'condition'} = {}) {
  const deadline = Date.now() + timeout;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

module.exports = {BIN, fixture, sha1, makeTempDir, copyModuleProject, spawnBin, readFirstLine, runCli, request, startHost, waitFor, waitForExit};
