'use strict';
// The manager's hosts: started on request, shared between connections, stopped a while
// after the last connection closes (or its owner dies), restarted on the same socket, left
// down after a crash; and the manager exiting once it has no hosts left.

const assert = require('node:assert/strict');
const {spawn} = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const {describe, test} = require('node:test');

const {isProcessAlive} = require('../../django_js_host/js/lib/process-alive');
const {fixture, request, waitFor} = require('./helpers');
const {assertGone, waitForHost, withManager} = require('./manager-helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');

async function callHello(info, name) {
  const res = await request(info.socket, {path: '/function/hello_world', body: JSON.stringify({name})});
  assert.equal(res.status, 200, res.text);
  return res.text;
}

describe('starting hosts', () => {
  test('/host/start starts a host that answers at its url; a second start reuses it', () =>
    withManager(async (manager, runDir) => {
      const res = await manager.post('/host/start', {config: FUNCTIONS_CONFIG});
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['content-type'], 'application/json');
      const info = res.json();
      assert.deepEqual(Object.keys(info), [
        'config',
        'state',
        'pid',
        'socket',
        'url',
        'logfile',
        'connections',
        'startedAt',
        'restarts',
        'exit',
        'stale',
        'startError',
        'status',
        'started',
      ]);
      assert.equal(info.config, fs.realpathSync(FUNCTIONS_CONFIG));
      assert.equal(info.state, 'running');
      assert.equal(info.url, `unix:${info.socket}`);
      assert.equal(path.dirname(info.socket), runDir.dir);
      assert.equal(info.status.pid, info.pid);
      assert.equal(info.status.config.socket, info.socket);
      assert.equal(info.connections, 0);
      assert.equal(info.restarts, 0);
      assert.equal(info.exit, null);
      assert.equal(info.startError, null);
      assert.equal(info.stale, false);
      assert.equal(info.started, true);
      assert.ok(!Number.isNaN(Date.parse(info.startedAt)));
      const digest = crypto.createHash('sha1').update(info.config).digest('hex').slice(0, 10);
      assert.equal(info.logfile, path.join(runDir.dir, `host-functions.config-${digest}.log`));
      assert.equal(await callHello(info, 'manager'), 'Hello, manager!');
      await waitFor(() => /hello_world 200/.test(fs.readFileSync(info.logfile, 'utf8')), {what: 'the call in the host logfile'});

      const again = (await manager.post('/host/start', {config: FUNCTIONS_CONFIG})).json();
      assert.equal(again.pid, info.pid);
      assert.equal(again.started, false);
      const status = (await manager.get('/status')).json();
      assert.deepEqual(
        status.hosts.map((host) => [host.config, host.pid, host.started]),
        [[info.config, info.pid, false]],
      );
      assert.match(manager.output.stdout, /host started: .*functions\.config\.js \(start request; pid \d+, socket .*\.sock, logfile .*\)\n/);
    }));

  test('a symlink to a config shares the host of its target', () =>
    withManager(async (manager, runDir) => {
      const link = path.join(runDir.dir, 'linked.config.js');
      fs.symlinkSync(FUNCTIONS_CONFIG, link);
      const direct = (await manager.post('/host/start', {config: FUNCTIONS_CONFIG})).json();
      const linked = (await manager.post('/host/start', {config: link})).json();
      assert.equal(linked.pid, direct.pid);
      assert.equal(linked.config, fs.realpathSync(FUNCTIONS_CONFIG));
    }));

  test('two concurrent /host/connect for one config get one host process', () =>
    withManager(async (manager) => {
      const connect = (connection) =>
        manager.post('/host/connect', {config: FUNCTIONS_CONFIG, owner: process.pid, connection});
      const answers = await Promise.all([connect('a'), connect('b'), connect('c')]);
      const infos = answers.map((res) => {
        assert.equal(res.status, 200, res.text);
        return res.json();
      });
      assert.equal(new Set(infos.map((info) => info.pid)).size, 1);
      assert.deepEqual(infos.map((info) => info.started).sort(), [false, false, true]);
      assert.deepEqual(infos.map((info) => info.connections).sort(), [1, 2, 3]);
      assert.equal((manager.output.stdout.match(/host started:/g) || []).length, 1);
    }));

  test('the sourceRoot is the host working directory', () =>
    withManager(async (manager, runDir) => {
      const config = path.join(runDir.dir, 'cwd.config.js');
      fs.writeFileSync(config, 'module.exports = {functions: {cwd(data, cb) { cb(null, process.cwd()); }}};\n');
      const root = fs.mkdtempSync(path.join(runDir.dir, 'root-'));
      const info = (await manager.post('/host/start', {config, sourceRoot: root})).json();
      assert.equal((await request(info.socket, {path: '/function/cwd', body: '{}'})).text, root);
    }));
});

describe('connections', () => {
  test('after the last disconnect the host stops after disconnectTimeout, then the manager exits', () =>
    withManager(async (manager) => {
      const connect = {config: FUNCTIONS_CONFIG, owner: process.pid, disconnectTimeout: 300};
      const info = (await manager.post('/host/connect', {...connect, connection: 'a'})).json();
      await manager.post('/host/connect', {...connect, connection: 'b'});
      const afterA = (await manager.post('/host/disconnect', {config: FUNCTIONS_CONFIG, connection: 'a'})).json();
      assert.equal(afterA.connections, 1);
      const disconnected = Date.now();
      const afterB = (await manager.post('/host/disconnect', {config: FUNCTIONS_CONFIG, connection: 'b'})).json();
      assert.equal(afterB.connections, 0);
      assert.equal(afterB.state, 'running');
      // Disconnecting an unknown connection again changes nothing.
      assert.equal((await manager.post('/host/disconnect', {config: FUNCTIONS_CONFIG, connection: 'b'})).status, 200);
      assert.deepEqual(await manager.exited, {code: 0, signal: null});
      assert.ok(Date.now() - disconnected >= 300);
      await assertGone(info.pid);
      assert.match(manager.output.stdout, /host stop scheduled in 300ms: .* \(no connections left\)\n/);
      assert.match(manager.output.stdout, /host stopped: [^]*manager stopping \(no hosts left\)\n/);
    }));

  test('a connect within the disconnect timeout cancels the stop', () =>
    withManager(async (manager) => {
      const connect = {config: FUNCTIONS_CONFIG, owner: process.pid, disconnectTimeout: 300};
      const info = (await manager.post('/host/connect', {...connect, connection: 'a'})).json();
      await manager.post('/host/disconnect', {config: FUNCTIONS_CONFIG, connection: 'a'});
      await new Promise((resolve) => setTimeout(resolve, 100));
      const again = (await manager.post('/host/connect', {...connect, connection: 'b'})).json();
      assert.equal(again.pid, info.pid);
      assert.equal(again.started, false);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.ok(isProcessAlive(info.pid));
      assert.equal((await manager.post('/host/status', {config: FUNCTIONS_CONFIG})).json().connections, 1);
      assert.match(manager.output.stdout, /host stop cancelled: .* \(connection b opened\)\n/);
    }));

  test('a connection whose owner died is dropped, and the host stops', () =>
    withManager(async (manager) => {
      const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 200)'], {stdio: 'ignore'});
      const ownerExited = new Promise((resolve) => owner.once('exit', resolve));
      const connect = {config: FUNCTIONS_CONFIG, owner: owner.pid, connection: 'short-lived', disconnectTimeout: 100};
      const info = (await manager.post('/host/connect', connect)).json();
      assert.equal(info.connections, 1);
      await ownerExited;
      // Checked every second; then 100 ms to stop; then the manager exits.
      assert.deepEqual(await manager.exited, {code: 0, signal: null});
      await assertGone(info.pid);
      assert.match(manager.output.stdout, new RegExp(`dead owner dropped: .* \\(owner ${owner.pid}, connection short-lived; 0 open\\)\\n`));
    }));
});

describe('restarts and crashes', () => {
  test('/host/restart keeps socket, logfile and connections; the pid changes', () =>
    withManager(async (manager) => {
      const before = (await manager.post('/host/connect', {config: FUNCTIONS_CONFIG, owner: process.pid, connection: 'a'})).json();
      const res = await manager.post('/host/restart', {config: FUNCTIONS_CONFIG});
      assert.equal(res.status, 200, res.text);
      const after = res.json();
      assert.notEqual(after.pid, before.pid);
      assert.equal(after.socket, before.socket);
      assert.equal(after.logfile, before.logfile);
      assert.equal(after.connections, 1);
      assert.equal(after.restarts, 1);
      assert.equal(after.state, 'running');
      await assertGone(before.pid);
      assert.equal(await callHello(after, 'again'), 'Hello, again!');
      assert.match(manager.output.stdout, /host restarting: .* \(restart request\)\n/);
    }));

  test('a host killed with SIGKILL stays down (state exited) until /host/start brings it back on its socket', () =>
    withManager(async (manager) => {
      const info = (await manager.post('/host/connect', {config: FUNCTIONS_CONFIG, owner: process.pid, connection: 'a'})).json();
      process.kill(info.pid, 'SIGKILL');
      const down = await waitForHost(manager, FUNCTIONS_CONFIG, (host) => host.state === 'exited', 'the host to be seen exited');
      assert.deepEqual(down.exit, {code: null, signal: 'SIGKILL'});
      assert.equal(down.connections, 1);
      // No respawn behind anyone's back.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const still = (await manager.post('/host/status', {config: FUNCTIONS_CONFIG})).json();
      assert.equal(still.state, 'exited');
      assert.equal(still.pid, info.pid);
      assert.match(manager.output.stderr, /host exited unexpectedly: .* \(pid \d+, killed by SIGKILL; logfile .*\)/);

      const back = (await manager.post('/host/start', {config: FUNCTIONS_CONFIG})).json();
      assert.equal(back.state, 'running');
      assert.equal(back.started, true);
      assert.equal(back.socket, info.socket);
      assert.notEqual(back.pid, info.pid);
      assert.equal(back.exit, null);
      assert.equal(back.connections, 1);
      assert.equal(await callHello(back, 'back'), 'Hello, back!');
    }));

  test('/host/stop stops and forgets a host; the manager exits with its last host', () =>
    withManager(async (manager) => {
      const first = (await manager.post('/host/start', {config: FUNCTIONS_CONFIG})).json();
      const second = (await manager.post('/host/start', {config: fixture('small-limit.config.js')})).json();
      const stopped = (await manager.post('/host/stop', {config: FUNCTIONS_CONFIG})).json();
      assert.equal(stopped.pid, first.pid);
      assert.equal(stopped.state, 'exited');
      assert.equal(stopped.exit, null);
      await assertGone(first.pid);
      const unknown = await manager.post('/host/status', {config: FUNCTIONS_CONFIG});
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json().name, 'UnknownHost');
      assert.ok(isProcessAlive(second.pid));
      assert.equal((await manager.post('/host/stop', {config: fixture('small-limit.config.js')})).status, 200);
      assert.deepEqual(await manager.exited, {code: 0, signal: null});
      await assertGone(second.pid);
    }));
});
