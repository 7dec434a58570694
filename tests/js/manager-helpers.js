'use strict';
// Shared by the manager tests: a private directory with a secret file per manager, managers
// as real child processes, requests that carry the secret, and whether a pid still runs.
// Every process is stopped by its own pid or ChildProcess handle, never by name.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const {makeTempDir, request, spawnBin, waitFor, waitForExit} = require('./helpers');

const START_TIMEOUT = 10000;
// Long enough for a manager to SIGTERM its hosts and see them exit.
const STOP_TIMEOUT = 15000;

// A 0700 directory (mkdtemp's mode) holding a 0600 secret file, as Python creates them.
function makeSecretDir() {
  const dir = makeTempDir();
  const secret = crypto.randomBytes(16).toString('hex');
  const secretFile = path.join(dir, 'secret');
  fs.writeFileSync(secretFile, `${secret}\n`, {mode: 0o600});
  return {dir, secret, secretFile, remove: () => fs.rmSync(dir, {recursive: true, force: true})};
}

// Resolves with the first stdout line of a spawnBin() process.
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

// Requests to a manager on `port`: JSON bodies, the secret unless told otherwise.
function managerClient(port, secret) {
  const headers = (given) => (given === null ? {} : {'X-JS-Host-Secret': given});
  return {
    post: (urlPath, body = {}, {secret: given = secret} = {}) =>
      request(port, {method: 'POST', path: urlPath, body: typeof body === 'string' ? body : JSON.stringify(body), headers: headers(given)}),
    get: (urlPath, {secret: given = secret} = {}) => request(port, {method: 'GET', path: urlPath, headers: headers(given)}),
  };
}

// Starts `js-host --manager --json` on an OS-assigned port with the secret dir's secret.
async function startManager(secretDir, {args = []} = {}) {
  const started = spawnBin(['--manager', '--secret-file', secretDir.secretFile, '--port', '0', '--json', ...args]);
  const status = JSON.parse(await readFirstLine(started, 'the manager'));
  return {
    ...started,
    ...managerClient(status.port, secretDir.secret),
    status,
    port: status.port,
    // SIGTERM by this child's handle, then waits for the exit (SIGKILL after a timeout).
    async stop() {
      const {child} = started;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return waitForExit(started, STOP_TIMEOUT);
    },
  };
}

// Signal 0 says whether the pid exists; on Linux a zombie (exited, not reaped: e.g. a
// detached manager whose new parent does not reap) counts as gone.
function isRunning(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

async function assertGone(pid, timeout = STOP_TIMEOUT) {
  await waitFor(() => !isRunning(pid), {timeout, what: `pid ${pid} to exit`});
}

// The pids whose parent is `pid` (running ones only), from /proc: Linux only, else null.
function childPids(pid) {
  if (process.platform !== 'linux') return null;
  const children = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(parent) === pid && state !== 'Z') children.push(Number(entry));
  }
  return children;
}

// Polls POST /host/status until `predicate(info)` holds; resolves with that info.
async function waitForHost(manager, config, predicate, what) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const res = await manager.post('/host/status', {config});
    const info = res.status === 200 ? res.json() : null;
    if (info && predicate(info)) return info;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last status: ${res.text}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

module.exports = {makeSecretDir, readFirstLine, managerClient, startManager, isRunning, assertGone, childPids, waitForHost};
