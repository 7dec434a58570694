'use strict';
// Shared by the manager tests: a private directory per manager (its socket, host sockets and
// logfiles go there), managers as real child processes (withManager: one per test, leaving no
// host behind), requests over its Unix socket, and waiting for a pid to be gone.
// Every process is stopped by its own pid or ChildProcess handle, never by name.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const {isProcessAlive} = require('../../django_js_host/js/lib/process-alive');
const {makeTempDir, readFirstLine, request, spawnBin, waitFor, waitForExit} = require('./helpers');

// Long enough for a manager to SIGTERM its hosts and see them exit.
const STOP_TIMEOUT = 15000;

// A 0700 directory (mkdtemp's mode), as Python makes it, and the manager's socket in it.
function makeRunDir() {
  const dir = makeTempDir();
  return {dir, socket: path.join(dir, 'manager.sock'), remove: () => fs.rmSync(dir, {recursive: true, force: true})};
}

// Requests to the manager on `socketPath`, with JSON bodies.
function managerClient(socketPath) {
  return {
    post: (urlPath, body = {}, {headers} = {}) =>
      request(socketPath, {method: 'POST', path: urlPath, body: typeof body === 'string' ? body : JSON.stringify(body), headers}),
    get: (urlPath, {headers} = {}) => request(socketPath, {method: 'GET', path: urlPath, headers}),
  };
}

// Starts `js-host --manager --json` on the run dir's socket.
async function startManager(runDir, {args = []} = {}) {
  const started = spawnBin(['--manager', '--socket', runDir.socket, '--json', ...args]);
  const status = JSON.parse(await readFirstLine(started, 'the manager'));
  return {
    ...started,
    ...managerClient(runDir.socket),
    status,
    socket: runDir.socket,
    // SIGTERM by this child's handle, then waits for the exit (SIGKILL after a timeout).
    async stop() {
      const {child} = started;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return waitForExit(started, STOP_TIMEOUT);
    },
  };
}

async function assertGone(pid, timeout = STOP_TIMEOUT) {
  await waitFor(() => !isProcessAlive(pid), {timeout, what: `pid ${pid} to exit`});
}

// Runs `body(manager, runDir)` against a fresh manager, then stops the manager (by its
// pid) and checks that every host pid it ever reported to a POST is gone: a manager must
// never leave a host behind, whatever the test did to it.
async function withManager(body) {
  const runDir = makeRunDir();
  const manager = await startManager(runDir);
  const hostPids = new Set();
  const post = manager.post;
  manager.post = async (...args) => {
    const res = await post(...args);
    if (res.status === 200 && res.json().pid) hostPids.add(res.json().pid);
    return res;
  };
  try {
    await body(manager, runDir);
  } finally {
    await manager.stop();
    for (const pid of hostPids) await assertGone(pid);
    runDir.remove();
  }
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

module.exports = {makeRunDir, managerClient, startManager, assertGone, withManager, childPids, waitForHost};
