'use strict';
// `js-host --manager`: its command line, who it refuses (the network, other users, a secret
// file others can read), its start-up output, --detach, and stopping it with its hosts.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const {describe, test} = require('node:test');

const {isProcessAlive} = require('../../django_js_host/js/lib/process-alive');
const {fixture, readFirstLine, runCli, spawnBin, waitFor, waitForExit} = require('./helpers');
const {assertGone, makeSecretDir, managerClient, startManager, withManager} = require('./manager-helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');
const {version} = require('../../django_js_host/js/package.json');

describe('manager command line', () => {
  test('a non-loopback --address is refused before anything starts', async () => {
    const secretDir = makeSecretDir();
    try {
      for (const address of ['0.0.0.0', '192.168.1.10', '::']) {
        const {code, stdout, stderr} = await runCli(['--manager', '--secret-file', secretDir.secretFile, '--address', address]);
        assert.equal(code, 2, address);
        assert.equal(stdout, '');
        assert.ok(stderr.startsWith(`js-host: --address ${address} is not a loopback address;`), stderr);
      }
    } finally {
      secretDir.remove();
    }
  });

  test('usage errors: no --secret-file, a CONFIG, host-only and manager-only flags mixed', async () => {
    for (const [args, message] of [
      [['--manager'], '--manager needs --secret-file F'],
      [['--manager', '--secret-file', 'x', FUNCTIONS_CONFIG], '--manager takes no CONFIG path'],
      [['--manager', '--secret-file', 'x', '--config'], '--config does not go with --manager'],
      [[FUNCTIONS_CONFIG, '--detach'], '--detach only goes with --manager'],
      [[FUNCTIONS_CONFIG, '--secret-file', 'x'], '--secret-file only goes with --manager'],
    ]) {
      const {code, stderr} = await runCli(args);
      assert.equal(code, 2, args.join(' '));
      assert.ok(stderr.startsWith(`js-host: ${message}`), stderr);
    }
  });

  test('--help describes the manager', async () => {
    const {stdout} = await runCli(['--help']);
    assert.match(stdout, /js-host --manager --secret-file F/);
    assert.match(stdout, /--detach/);
  });
});

describe('the secret file', () => {
  async function assertRefused(secretDir, file, pattern) {
    const {code, stdout, stderr} = await runCli(['--manager', '--secret-file', file, '--port', '0']);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, pattern);
    assert.ok(stderr.startsWith(`js-host: refusing the secret file ${file}: `), stderr);
    assert.ok(!stderr.includes(secretDir.secret), 'the secret is never printed');
  }

  test('readable by group or others: refused', async () => {
    const secretDir = makeSecretDir();
    try {
      fs.chmodSync(secretDir.secretFile, 0o644);
      await assertRefused(secretDir, secretDir.secretFile, /its mode 0644 lets group\/others access it/);
      fs.chmodSync(secretDir.secretFile, 0o640);
      await assertRefused(secretDir, secretDir.secretFile, /its mode 0640/);
    } finally {
      secretDir.remove();
    }
  });

  test('in a directory others can write to: refused', async () => {
    const secretDir = makeSecretDir();
    try {
      fs.chmodSync(secretDir.dir, 0o777);
      await assertRefused(secretDir, secretDir.secretFile, /its directory .* \(mode 0777\) is writable by group\/others/);
    } finally {
      secretDir.remove();
    }
  });

  test('missing, empty, a symlink or a directory: refused', async () => {
    const secretDir = makeSecretDir();
    try {
      await assertRefused(secretDir, path.join(secretDir.dir, 'nothing'), /ENOENT/);
      const empty = path.join(secretDir.dir, 'empty');
      fs.writeFileSync(empty, ' \n', {mode: 0o600});
      await assertRefused(secretDir, empty, /it is empty/);
      const link = path.join(secretDir.dir, 'link');
      fs.symlinkSync(secretDir.secretFile, link);
      await assertRefused(secretDir, link, /it is a symbolic link/);
      const subdir = path.join(secretDir.dir, 'subdir');
      fs.mkdirSync(subdir, {mode: 0o700});
      await assertRefused(secretDir, subdir, /not a regular file/);
    } finally {
      secretDir.remove();
    }
  });

  test('every request without the right X-JS-Host-Secret gets 403, and learns nothing', async () => {
    const secretDir = makeSecretDir();
    const manager = await startManager(secretDir);
    try {
      const wrongSameLength = 'x'.repeat(secretDir.secret.length);
      for (const secret of [null, '', 'wrong', wrongSameLength, `${secretDir.secret}x`]) {
        for (const res of [
          await manager.get('/status', {secret}),
          await manager.post('/host/start', {config: FUNCTIONS_CONFIG}, {secret}),
          await manager.post('/no/such/path', {}, {secret}),
        ]) {
          assert.equal(res.status, 403, `${secret}: ${res.text}`);
          assert.equal(res.headers['content-length'], String(res.body.length));
          const body = res.json();
          assert.equal(body.name, 'Forbidden');
          assert.match(body.message, /X-JS-Host-Secret/);
          assert.ok(!res.text.includes(secretDir.secret));
        }
      }
      assert.deepEqual((await manager.get('/status')).json().hosts, [], 'nothing was started');
      assert.equal((await manager.get('/status')).status, 200);
    } finally {
      assert.equal((await manager.stop()).code, 0);
      secretDir.remove();
    }
  });
});

describe('manager start-up', () => {
  test('--json prints the status first; plain mode says where it listens', async () => {
    const secretDir = makeSecretDir();
    const manager = await startManager(secretDir);
    try {
      assert.deepEqual(manager.status, {
        type: 'Manager',
        version,
        pid: manager.child.pid,
        address: '127.0.0.1',
        port: manager.port,
        hosts: [],
      });
      assert.deepEqual((await manager.get('/status')).json(), manager.status);
    } finally {
      await manager.stop();
    }
    const plain = spawnBin(['--manager', '--secret-file', secretDir.secretFile, '--port', '0', '--address', 'localhost']);
    try {
      const line = await readFirstLine(plain, 'the manager');
      assert.match(line, /^Manager listening at (127\.0\.0\.1|\[::1\]):\d+$/);
    } finally {
      plain.child.kill('SIGTERM');
      assert.deepEqual(await waitForExit(plain, 5000), {code: 0, signal: null});
      secretDir.remove();
    }
  });

  test('a second manager on the same port exits 1 naming EADDRINUSE', () =>
    withManager(async (manager, secretDir) => {
      const {code, stdout, stderr} = await runCli(['--manager', '--secret-file', secretDir.secretFile, '--port', String(manager.port)]);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.equal(stderr, `js-host: cannot listen on 127.0.0.1:${manager.port}: address already in use (EADDRINUSE)\n`);
      assert.equal((await manager.get('/status')).status, 200, 'the first one still answers');
    }));

  test('--detach prints the status line and exits 0; the manager keeps running on its own', async () => {
    const secretDir = makeSecretDir();
    const logfile = path.join(secretDir.dir, 'manager.log');
    let pid;
    try {
      const args = ['--manager', '--detach', '--json', '--secret-file', secretDir.secretFile, '--port', '0', '--logfile', logfile];
      const {code, stdout, stderr} = await runCli(args);
      assert.equal(code, 0, stderr);
      assert.equal(stderr, '');
      const lines = stdout.split('\n');
      assert.equal(lines.length, 2, 'one line, newline-terminated');
      const status = JSON.parse(lines[0]);
      pid = status.pid;
      assert.equal(status.type, 'Manager');
      assert.ok(isProcessAlive(pid));
      const manager = managerClient(status.port, secretDir.secret);
      assert.deepEqual((await manager.get('/status')).json(), status);

      // A second detached manager on that port fails, and says why.
      const second = await runCli([...args.slice(0, -4), '--port', String(status.port), '--logfile', logfile]);
      assert.equal(second.code, 1);
      assert.equal(second.stdout, '');
      assert.match(second.stderr, /^js-host: cannot listen on 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)\n$/);

      // Its output went to the logfile, status line first.
      await waitFor(() => fs.readFileSync(logfile, 'utf8').includes('manager listening at'), {what: 'the log line'});
      assert.ok(fs.readFileSync(logfile, 'utf8').startsWith(`${lines[0]}\n`));

      process.kill(pid, 'SIGTERM');
      await assertGone(pid);
      await waitFor(() => fs.readFileSync(logfile, 'utf8').includes('manager stopped'), {what: 'the last log line'});
      assert.match(fs.readFileSync(logfile, 'utf8'), /manager stopping \(SIGTERM\)\n.*manager stopped\n$/);
    } finally {
      if (pid && isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      secretDir.remove();
    }
  });

  test('--detach without --json prints the listening line; a bad secret file fails it', async () => {
    const secretDir = makeSecretDir();
    let port;
    try {
      const {code, stdout, stderr} = await runCli(['--manager', '--detach', '--secret-file', secretDir.secretFile, '--port', '0']);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^Manager listening at 127\.0\.0\.1:\d+\n$/);
      port = Number(stdout.trim().split(':').pop());
      const manager = managerClient(port, secretDir.secret);
      const {pid} = (await manager.get('/status')).json();
      assert.deepEqual((await manager.post('/manager/stop')).json(), {stopping: true});
      await assertGone(pid);

      fs.chmodSync(secretDir.secretFile, 0o644);
      const failed = await runCli(['--manager', '--detach', '--json', '--secret-file', secretDir.secretFile, '--port', '0']);
      assert.equal(failed.code, 1);
      assert.equal(failed.stdout, '');
      assert.match(failed.stderr, /^js-host: refusing the secret file .*: its mode 0644/);
    } finally {
      secretDir.remove();
    }
  });

  test('a logfile that cannot be opened fails the start, detached or not', async () => {
    const secretDir = makeSecretDir();
    const logfile = path.join(secretDir.dir, 'no-such-dir', 'manager.log');
    try {
      for (const detach of [[], ['--detach']]) {
        const {code, stderr} = await runCli(['--manager', ...detach, '--secret-file', secretDir.secretFile, '--port', '0', '--logfile', logfile]);
        assert.equal(code, 1);
        assert.match(stderr, new RegExp(`^js-host: cannot open logfile ${logfile}: ENOENT`));
      }
    } finally {
      secretDir.remove();
    }
  });

  test('an idle manager keeps answering, and its timers do not hold up SIGTERM', () =>
    withManager(async (manager) => {
      // It exits by itself after 30 s without a host request: too long to wait for here.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await manager.get('/status')).status, 200);
      const stopping = Date.now();
      assert.deepEqual(await manager.stop(), {code: 0, signal: null});
      assert.ok(Date.now() - stopping < 3000);
    }));
});

describe('stopping the manager', () => {
  test('SIGTERM stops every host it started, then exits 0', () =>
    withManager(async (manager) => {
      const res = await manager.post('/host/start', {config: FUNCTIONS_CONFIG});
      assert.equal(res.status, 200, res.text);
      const {pid} = res.json();
      assert.ok(isProcessAlive(pid));
      assert.deepEqual(await manager.stop(), {code: 0, signal: null});
      await assertGone(pid);
      assert.match(manager.output.stdout, /host stopped: .* \(pid \d+, exit code 0\)\n/);
      assert.match(manager.output.stdout, /manager stopping \(SIGTERM\)\n[^]*manager stopped\n$/);
    }));

  test('POST /manager/stop answers, stops all hosts and exits 0; the port is free again', () =>
    withManager(async (manager) => {
      const pids = [];
      for (const name of ['functions.config.js', 'small-limit.config.js']) {
        const res = await manager.post('/host/start', {config: fixture(name)});
        assert.equal(res.status, 200, res.text);
        pids.push(res.json().pid);
      }
      assert.equal(new Set(pids).size, 2);
      const res = await manager.post('/manager/stop');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), {stopping: true});
      assert.deepEqual(await manager.exited, {code: 0, signal: null});
      for (const pid of pids) await assertGone(pid);
      await new Promise((resolve, reject) => {
        const server = net.createServer().once('error', reject);
        server.listen(manager.port, '127.0.0.1', () => server.close(resolve));
      });
    }));
});
