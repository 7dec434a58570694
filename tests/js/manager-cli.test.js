'use strict';
// `js-host --manager`: its command line, who it refuses (the network, other users: it only
// listens on a Unix socket in a private directory), its start-up output, --detach, stale
// sockets, and stopping it with its hosts.

const assert = require('node:assert/strict');
const {execFileSync} = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const {describe, test} = require('node:test');

const {isProcessAlive} = require('../../django_js_host/js/lib/process-alive');
const {fixture, makeTempDir, readFirstLine, runCli, spawnBin, waitFor, waitForExit} = require('./helpers');
const {assertGone, makeRunDir, managerClient, startManager, withManager} = require('./manager-helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');
const {version} = require('../../django_js_host/js/package.json');

describe('manager command line', () => {
  test('--address and --port are refused: the manager listens on a Unix socket only', async () => {
    const runDir = makeRunDir();
    try {
      for (const flags of [['--address', '127.0.0.1'], ['--port', '9009'], ['--address', '0.0.0.0']]) {
        const {code, stdout, stderr} = await runCli(['--manager', '--socket', runDir.socket, ...flags]);
        assert.equal(code, 2, flags.join(' '));
        assert.equal(stdout, '');
        assert.match(stderr, /^js-host: .*Unix socket/, stderr);
      }
      assert.ok(!fs.existsSync(runDir.socket), 'nothing listened');
    } finally {
      runDir.remove();
    }
  });

  test('usage errors: no --socket, a CONFIG, host-only and manager-only flags mixed', async () => {
    for (const [args, message] of [
      [['--manager'], /^js-host: the manager listens on a Unix socket only: --socket PATH/],
      [['--manager', '--socket', '/tmp/x.sock', FUNCTIONS_CONFIG], /^js-host: --manager takes no CONFIG path/],
      [['--manager', '--socket', '/tmp/x.sock', '--config'], /^js-host: --config does not go with --manager/],
      [[FUNCTIONS_CONFIG, '--detach'], /^js-host: --detach only goes with --manager/],
      [[FUNCTIONS_CONFIG, '--idle-timeout', '100'], /^js-host: --idle-timeout only goes with --manager/],
      [['--manager', '--socket', '/tmp/x.sock', '--idle-timeout', '1.5'], /^js-host: --idle-timeout must be a whole number of milliseconds up to 2147483647, got "1.5"/],
    ]) {
      const {code, stderr} = await runCli(args);
      assert.equal(code, 2, args.join(' '));
      assert.match(stderr, message);
    }
  });

  test('--help describes the manager', async () => {
    const {stdout} = await runCli(['--help']);
    assert.match(stdout, /js-host --manager --socket/);
    assert.match(stdout, /--detach/);
  });
});

describe('the private directory', () => {
  async function assertRefused(socket, pattern) {
    const {code, stdout, stderr} = await runCli(['--manager', '--socket', socket]);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /^js-host: refusing the directory /);
    assert.match(stderr, pattern);
    assert.ok(!fs.existsSync(socket), 'nothing listened');
  }

  test('a directory group or others can enter is refused', async () => {
    const runDir = makeRunDir();
    try {
      for (const mode of [0o755, 0o770, 0o701]) {
        fs.chmodSync(runDir.dir, mode);
        await assertRefused(runDir.socket, new RegExp(`its mode 0${mode.toString(8)} lets group/others in`));
      }
    } finally {
      runDir.remove();
    }
  });

  test('a symbolic link, or a directory that is missing, is refused', async () => {
    const runDir = makeRunDir();
    try {
      const link = path.join(makeTempDir(), 'link');
      fs.symlinkSync(runDir.dir, link);
      await assertRefused(path.join(link, 'manager.sock'), /it is a symbolic link/);
      fs.rmSync(path.dirname(link), {recursive: true});
      await assertRefused(path.join(runDir.dir, 'missing', 'manager.sock'), /ENOENT/);
    } finally {
      runDir.remove();
    }
  });

  test('a directory of another user is refused', {skip: process.getuid() !== 0 && 'needs root, to chown a directory to nobody'}, async () => {
    const runDir = makeRunDir();
    try {
      fs.chownSync(runDir.dir, 65534, 65534);
      await assertRefused(runDir.socket, /owned by uid 65534, not by this user/);
    } finally {
      runDir.remove();
    }
  });

  test('the socket is the owner\'s alone (mode 0600)', () =>
    withManager(async (manager) => {
      assert.equal(fs.statSync(manager.socket).mode & 0o777, 0o600);
      assert.ok(fs.statSync(manager.socket).isSocket());
    }));

  test('another user cannot connect', {skip: !canSwitchUser() && 'needs root and setpriv, to run a client as nobody'}, () =>
    withManager(async (manager, runDir) => {
      // The directory stays 0700: nobody cannot even reach the socket inside.
      const probe = `require('net').connect(${JSON.stringify(manager.socket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
      const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe], {encoding: 'utf8'});
      assert.equal(out.trim(), 'EACCES');
      // Even with the directory opened up, the socket's own mode keeps others out.
      fs.chmodSync(runDir.dir, 0o711);
      try {
        const again = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe], {encoding: 'utf8'});
        assert.equal(again.trim(), 'EACCES');
      } finally {
        fs.chmodSync(runDir.dir, 0o700);
      }
    }));
});

function canSwitchUser() {
  if (process.getuid() !== 0) return false;
  try {
    execFileSync('setpriv', ['--version'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}

describe('manager start-up', () => {
  test('--json prints the status first; plain mode says where it listens', async () => {
    const runDir = makeRunDir();
    const manager = await startManager(runDir);
    try {
      assert.deepEqual(manager.status, {type: 'Manager', version, pid: manager.child.pid, socket: runDir.socket, hosts: []});
      assert.deepEqual((await manager.get('/status')).json(), manager.status);
    } finally {
      await manager.stop();
    }
    assert.ok(!fs.existsSync(runDir.socket), 'the socket file goes with the manager');
    const plain = spawnBin(['--manager', '--socket', runDir.socket]);
    try {
      const line = await readFirstLine(plain, 'the manager');
      assert.equal(line, `Manager listening at unix:${runDir.socket}`);
    } finally {
      plain.child.kill('SIGTERM');
      assert.deepEqual(await waitForExit(plain, 5000), {code: 0, signal: null});
      runDir.remove();
    }
  });

  test('a second manager on the same socket exits 1 naming EADDRINUSE; the first keeps it', () =>
    withManager(async (manager, runDir) => {
      const {code, stdout, stderr} = await runCli(['--manager', '--socket', runDir.socket]);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.match(stderr, new RegExp(`a server already answers on ${runDir.socket}.*EADDRINUSE`));
      assert.equal((await manager.get('/status')).status, 200, 'the first one still answers');
    }));

  test('a socket file left by a killed manager is replaced', async () => {
    const runDir = makeRunDir();
    const killed = await startManager(runDir);
    killed.child.kill('SIGKILL');
    await waitForExit(killed, 5000);
    assert.ok(fs.lstatSync(runDir.socket).isSocket(), 'SIGKILL leaves the socket file behind');
    const manager = await startManager(runDir);
    try {
      assert.equal((await manager.get('/status')).json().pid, manager.child.pid);
    } finally {
      await manager.stop();
      runDir.remove();
    }
  });

  test('a file that is not a socket is never removed', async () => {
    const runDir = makeRunDir();
    try {
      fs.writeFileSync(runDir.socket, 'precious');
      const {code, stderr} = await runCli(['--manager', '--socket', runDir.socket]);
      assert.equal(code, 1);
      assert.match(stderr, /exists and is not a socket/);
      assert.equal(fs.readFileSync(runDir.socket, 'utf8'), 'precious');
    } finally {
      runDir.remove();
    }
  });

  test('--detach prints the status line and exits 0; the manager keeps running on its own', async () => {
    const runDir = makeRunDir();
    const logfile = path.join(runDir.dir, 'manager.log');
    let pid;
    try {
      const args = ['--manager', '--detach', '--json', '--socket', runDir.socket, '--logfile', logfile];
      const {code, stdout, stderr} = await runCli(args);
      assert.equal(code, 0, stderr);
      assert.equal(stderr, '');
      const lines = stdout.split('\n');
      assert.equal(lines.length, 2, 'one line, newline-terminated');
      const status = JSON.parse(lines[0]);
      pid = status.pid;
      assert.equal(status.type, 'Manager');
      assert.ok(isProcessAlive(pid));
      const manager = managerClient(runDir.socket);
      assert.deepEqual((await manager.get('/status')).json(), status);

      // A second detached manager on that socket fails, and says why.
      const second = await runCli(args);
      assert.equal(second.code, 1);
      assert.equal(second.stdout, '');
      assert.match(second.stderr, /^js-host: .*a server already answers on .*EADDRINUSE/);

      // Its output went to the logfile, status line first.
      await waitFor(() => fs.readFileSync(logfile, 'utf8').includes('manager listening at'), {what: 'the log line'});
      assert.ok(fs.readFileSync(logfile, 'utf8').startsWith(`${lines[0]}\n`));

      process.kill(pid, 'SIGTERM');
      await assertGone(pid);
      await waitFor(() => fs.readFileSync(logfile, 'utf8').includes('manager stopped'), {what: 'the last log line'});
      assert.match(fs.readFileSync(logfile, 'utf8'), /manager stopping \(SIGTERM\)\n.*manager stopped\n$/);
    } finally {
      if (pid && isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
      runDir.remove();
    }
  });

  test('--detach without --json prints the listening line; a directory others can enter fails it', async () => {
    const runDir = makeRunDir();
    try {
      const {code, stdout, stderr} = await runCli(['--manager', '--detach', '--socket', runDir.socket]);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, `Manager listening at unix:${runDir.socket}\n`);
      const manager = managerClient(runDir.socket);
      const {pid} = (await manager.get('/status')).json();
      assert.deepEqual((await manager.post('/manager/stop')).json(), {stopping: true});
      await assertGone(pid);

      fs.chmodSync(runDir.dir, 0o755);
      const failed = await runCli(['--manager', '--detach', '--json', '--socket', runDir.socket]);
      assert.equal(failed.code, 1);
      assert.equal(failed.stdout, '');
      assert.match(failed.stderr, /^js-host: refusing the directory .*: its mode 0755/);
    } finally {
      runDir.remove();
    }
  });

  test('a logfile that cannot be opened fails the start, detached or not', async () => {
    const runDir = makeRunDir();
    const logfile = path.join(runDir.dir, 'no-such-dir', 'manager.log');
    try {
      for (const detach of [[], ['--detach']]) {
        const {code, stderr} = await runCli(['--manager', ...detach, '--socket', runDir.socket, '--logfile', logfile]);
        assert.equal(code, 1);
        assert.match(stderr, new RegExp(`^js-host: cannot open logfile ${logfile}: ENOENT`));
      }
    } finally {
      runDir.remove();
    }
  });

  test('an idle manager keeps answering, and its timers do not hold up SIGTERM', () =>
    withManager(async (manager) => {
      // It exits by itself 5 s after its last request (--idle-timeout): well after this.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await manager.get('/status')).status, 200);
      const stopping = Date.now();
      assert.deepEqual(await manager.stop(), {code: 0, signal: null});
      assert.ok(Date.now() - stopping < 3000);
    }));
});

describe('a manager that never had a host', () => {
  test('exits --idle-timeout ms after its last request, as a host outlives its last connection', async () => {
    const runDir = makeRunDir();
    const manager = await startManager(runDir, {args: ['--idle-timeout', '700']});
    try {
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal((await manager.get('/status')).status, 200, 'still there: a request restarts the wait');
      // A request that starts no host (its config does not exist) counts as one too.
      const asked = Date.now();
      assert.equal((await manager.post('/host/connect', {config: path.join(runDir.dir, 'missing.config.js')})).status, 400);
      assert.deepEqual(await manager.exited, {code: 0, signal: null});
      const waited = Date.now() - asked;
      assert.ok(waited >= 600 && waited < 3000, `exited ${waited} ms after the last request`);
      assert.match(manager.output.stdout, /manager stopping \(no host requested for 700ms\)/);
      assert.ok(!fs.existsSync(runDir.socket), 'its socket went with it');
    } finally {
      await manager.stop();
      runDir.remove();
    }
  });
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

  test('POST /manager/stop answers, stops all hosts and exits 0; their sockets and its own are gone', () =>
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
      assert.deepEqual(fs.readdirSync(path.dirname(manager.socket)).filter((name) => name.endsWith('.sock')), []);
    }));
});

describe('what earlier managers left', () => {
  test('host logfiles not written for a week and sockets of dead managers are removed at start; the rest is kept', async () => {
    const runDir = makeRunDir();
    const file = (name) => path.join(runDir.dir, name);
    const week = 7 * 24 * 60 * 60;
    fs.writeFileSync(file('host-old.config-0123456789.log'), 'old\n');
    const eightDaysAgo = Date.now() / 1000 - week - 86400;
    fs.utimesSync(file('host-old.config-0123456789.log'), eightDaysAgo, eightDaysAgo);
    fs.writeFileSync(file('host-recent.config-0123456789.log'), 'recent\n');
    // A pid no process has (above Linux's pid_max default), and ours, which is alive.
    fs.writeFileSync(file('host-0123456789-4194999.sock'), '');
    fs.writeFileSync(file(`host-0123456789-${process.pid}.sock`), '');
    fs.writeFileSync(file('notes.txt'), 'mine\n');
    const manager = await startManager(runDir);
    try {
      const left = fs.readdirSync(runDir.dir).sort();
      assert.deepEqual(left, [`host-0123456789-${process.pid}.sock`, 'host-recent.config-0123456789.log', 'manager.sock', 'notes.txt']);
      await waitFor(() => /removed what earlier managers left: .*host-old\.config-0123456789\.log/.test(manager.output.stdout), {what: 'the log line'});
    } finally {
      await manager.stop();
      runDir.remove();
    }
  });
});
