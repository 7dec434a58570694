'use strict';
// A host on a Unix socket (`socket` in host.config.js, or --socket): it answers there, and
// reports it; a stale socket file is replaced, a live one or any other file is not; the file
// has the configured mode and is gone once the host stops; --workers share it.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {after, afterEach, before, describe, test} = require('node:test');

const {fixture, makeTempDir, readFirstLine, request, runCli, spawnBin, startHost, waitFor, waitForExit} = require('./helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');
const CLUSTER_CONFIG = fixture('cluster.config.js');
// Process starts are slow on a loaded machine: conditions are waited on this long.
const PATIENCE = 15000;

function isSocket(file) {
  try {
    return fs.lstatSync(file).isSocket();
  } catch {
    return false;
  }
}

function modeOf(file) {
  return fs.statSync(file).mode & 0o777;
}

// A config file in `dir` using the functions of `functionsFrom`, with `settings`.
function writeConfig(dir, name, settings, functionsFrom = FUNCTIONS_CONFIG) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `module.exports = Object.assign({}, require(${JSON.stringify(functionsFrom)}), ${JSON.stringify(settings)});\n`);
  return file;
}

// A socket file nothing answers on: a host's, SIGKILLed, so it could not remove it.
async function leaveStaleSocket(socketPath) {
  const host = await startHost(FUNCTIONS_CONFIG, {socket: socketPath});
  await host.stop('SIGKILL');
  assert.ok(isSocket(socketPath), 'a SIGKILLed host leaves its socket file');
}

describe('a host on a Unix socket', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  const started = [];
  async function startOn(socketPath, options = {}) {
    const host = await startHost(options.config ?? FUNCTIONS_CONFIG, {socket: socketPath, ...options});
    started.push(host);
    return host;
  }
  afterEach(async () => {
    await Promise.all(started.splice(0).map((host) => host.stop()));
  });

  test('answers calls, and reports the socket instead of an address and port', async () => {
    const socketPath = path.join(dir, 'answers.sock');
    const host = await startOn(socketPath);
    assert.deepEqual([host.status.config.socket, host.status.config.address, host.status.config.port], [socketPath, null, null]);
    const res = await host.call('hello_world', {name: 'socket'});
    assert.equal(res.status, 200);
    assert.equal(res.text, 'Hello, socket!');
    const status = await host.request({method: 'GET', path: '/status'});
    assert.deepEqual(status.json(), host.status);
  });

  test('says "Host listening at unix:PATH" without --json', async () => {
    const socketPath = path.join(dir, 'plain.sock');
    const host = await startOn(socketPath, {json: false});
    assert.equal(host.firstLine, `Host listening at unix:${socketPath}`);
  });

  test('removes its socket file when it stops (SIGTERM, drained) and when SIGINTed', async () => {
    for (const signal of ['SIGTERM', 'SIGINT']) {
      const socketPath = path.join(dir, `stops-${signal}.sock`);
      const host = await startOn(socketPath);
      assert.ok(isSocket(socketPath));
      const slow = host.call('slow', {ms: 200});
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(await host.stop(signal), {code: 0, signal: null});
      assert.equal((await slow).text, 'waited 200ms', 'the call in flight was drained');
      assert.ok(!fs.existsSync(socketPath), `the socket file outlived ${signal}`);
    }
  });

  test('a SIGTERM sent the moment its status line is read drains it (exit 0, socket file removed)', async () => {
    // Its handler is installed before the status line is printed, not after (a supervisor
    // or a test may stop a host as soon as it reports).
    for (const args of [[], ['--workers', '1']]) {
      for (let round = 0; round < 5; round += 1) {
        const socketPath = path.join(dir, `prompt-${args.length}-${round}.sock`);
        const host = await startOn(socketPath, {args});
        assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null}, `${args} round ${round}`);
        assert.ok(!fs.existsSync(socketPath), `the socket file outlived an immediate SIGTERM (${args} round ${round})`);
      }
    }
  });

  test('replaces a stale socket file', async () => {
    const socketPath = path.join(dir, 'stale.sock');
    await leaveStaleSocket(socketPath);
    const host = await startOn(socketPath);
    assert.equal((await host.call('hello_world')).text, 'Hello, World!');
  });

  test('does not start where a host answers (exit 1, named), and that host keeps serving', async () => {
    const socketPath = path.join(dir, 'taken.sock');
    const first = await startOn(socketPath);
    const {code, stdout, stderr} = await runCli([FUNCTIONS_CONFIG, '--socket', socketPath]);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, new RegExp(`^js-host: cannot listen on unix:${socketPath}: a server already answers on ${socketPath}`));
    assert.ok(isSocket(socketPath));
    assert.equal((await first.call('hello_world')).text, 'Hello, World!');
  });

  test('never removes a file or a directory that is in the way', async () => {
    const file = path.join(dir, 'regular.sock');
    fs.writeFileSync(file, 'precious');
    const directory = path.join(dir, 'directory.sock');
    fs.mkdirSync(directory);
    for (const inTheWay of [file, directory]) {
      const {code, stdout, stderr} = await runCli([FUNCTIONS_CONFIG, '--socket', inTheWay]);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.match(stderr, new RegExp(`^js-host: cannot listen on unix:${inTheWay}: ${inTheWay} exists and is not a socket; not removing it`));
    }
    assert.equal(fs.readFileSync(file, 'utf8'), 'precious');
    assert.ok(fs.statSync(directory).isDirectory());
  });

  test('names a missing directory (which libuv reports as EACCES)', async () => {
    const socketPath = path.join(dir, 'no-such-dir', 'host.sock');
    const {code, stderr} = await runCli([FUNCTIONS_CONFIG, '--socket', socketPath]);
    assert.equal(code, 1);
    assert.equal(stderr, `js-host: cannot listen on unix:${socketPath}: the directory ${path.dirname(socketPath)} does not exist\n`);
  });

  test('creates the socket owner-only by default, whatever the umask, and with socketMode when set', async () => {
    const previous = process.umask(0); // the host inherits it: without care its socket would be 0777
    try {
      const owner = await startOn(path.join(dir, 'owner.sock'));
      assert.equal(modeOf(owner.socket).toString(8), '600');
      const config = writeConfig(dir, 'group.config.js', {socketMode: 0o660});
      const group = await startOn(path.join(dir, 'group.sock'), {config});
      assert.equal(modeOf(group.socket).toString(8), '660');
    } finally {
      process.umask(previous);
    }
  });

  test('takes `socket` from the config, relative to its directory; --socket and --port override it', async () => {
    const projectDir = path.join(dir, 'project');
    fs.mkdirSync(projectDir);
    const config = writeConfig(projectDir, 'host.config.js', {socket: 'run/host.sock'});
    fs.mkdirSync(path.join(projectDir, 'run'));
    const fromConfig = path.join(projectDir, 'run', 'host.sock');

    const configured = spawnBin([config, '--json'], {cwd: dir});
    try {
      const status = JSON.parse(await readFirstLine(configured, 'the host'));
      assert.equal(status.config.socket, fromConfig);
      assert.equal((await request(fromConfig, {path: '/function/hello_world', body: '{}'})).text, 'Hello, World!');
    } finally {
      configured.child.kill('SIGTERM');
      await waitForExit(configured, PATIENCE);
    }
    assert.ok(!fs.existsSync(fromConfig));

    const override = path.join(dir, 'override.sock');
    const overridden = await startOn(override, {config});
    assert.equal(overridden.status.config.socket, override);
    assert.ok(!fs.existsSync(fromConfig), 'the config file socket was not used');

    const onTcp = await startHost(config);
    started.push(onTcp);
    assert.deepEqual([onTcp.status.config.socket, onTcp.status.config.address], [null, '127.0.0.1']);
    assert.ok(onTcp.port > 0);
    assert.ok(!fs.existsSync(fromConfig));
  });

  test('--config reports the socket, with --socket overriding as when serving', async () => {
    const config = writeConfig(dir, 'reported.config.js', {socket: 'reported.sock'});
    const fromFile = JSON.parse((await runCli([config, '--config'])).stdout).config;
    assert.deepEqual([fromFile.socket, fromFile.address, fromFile.port], [path.join(dir, 'reported.sock'), null, null]);
    // A relative --socket is taken from the current directory, as any path on a command line.
    const overridden = JSON.parse((await runCli([config, '--config', '--socket', 'other.sock'], {cwd: path.join(dir, 'project')})).stdout).config;
    assert.equal(overridden.socket, path.join(dir, 'project', 'other.sock'));
    const tcp = JSON.parse((await runCli([config, '--config', '--port', '1234'])).stdout).config;
    assert.deepEqual([tcp.socket, tcp.address, tcp.port], [null, '127.0.0.1', 1234]);
  });

  test('--socket with --port or --address is a usage error', async () => {
    for (const flags of [['--port', '0'], ['--address', '127.0.0.1']]) {
      const {code, stderr} = await runCli([FUNCTIONS_CONFIG, '--socket', path.join(dir, 'x.sock'), ...flags]);
      assert.equal(code, 2, flags.join(' '));
      assert.match(stderr, new RegExp(`^js-host: --socket listens on a Unix socket instead of TCP: it does not go with ${flags[0]}`));
      assert.match(stderr, /Usage: js-host CONFIG/);
    }
  });

  test('a socket path too long for the system, or a bad socketMode, is refused before listening', async () => {
    const long = path.join(dir, `${'x'.repeat(120)}.sock`);
    const cli = await runCli([FUNCTIONS_CONFIG, '--socket', long]);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /--socket: the socket path .* bytes long; this system allows \d+/);
    const config = writeConfig(dir, 'long.config.js', {socket: long});
    const fromConfig = await runCli([config, '--config']);
    assert.equal(fromConfig.code, 1);
    assert.match(fromConfig.stderr, /socket: the socket path .* bytes long/);
    for (const socketMode of ['660', 0o1777, -1]) {
      const bad = writeConfig(dir, 'mode.config.js', {socket: 'mode.sock', socketMode});
      const result = await runCli([bad, '--config']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /socketMode must be a file mode from 0 to 0o777/);
      delete require.cache[bad];
    }
  });
});

describe('--workers on a Unix socket', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  // The pids of the workers the primary of `host` logged as started.
  function workerPids(host) {
    return [...host.output.stdout.matchAll(/cluster: worker (\d+) started/g)].map((match) => Number(match[1]));
  }

  // The umask of a process (Linux), as an octal string; null elsewhere.
  function umaskOf(pid) {
    try {
      return /^Umask:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1];
    } catch {
      return null;
    }
  }

  test('share the socket: a stale file is replaced, the mode set, calls go to both, and the file goes with them', async () => {
    const socketPath = path.join(dir, 'cluster.sock');
    await leaveStaleSocket(socketPath);
    const config = writeConfig(dir, 'cluster.config.js', {socketMode: 0o660}, CLUSTER_CONFIG);
    const previous = process.umask(0o002);
    let host;
    try {
      host = await startHost(config, {socket: socketPath, args: ['--workers', '2']});
    } finally {
      process.umask(previous);
    }
    try {
      assert.equal(host.status.config.socket, socketPath);
      assert.equal(host.status.workers.count, 2);
      assert.equal(modeOf(socketPath).toString(8), '660');
      const workers = new Set();
      await waitFor(() => workerPids(host).length === 2, {timeout: PATIENCE, what: 'the workers'});
      const deadline = Date.now() + PATIENCE;
      for (let call = 0; workers.size < 2 || call < 50; call += 1) {
        const res = await host.call('echo_pid', {id: call});
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json().id, call);
        workers.add(res.json().pid);
        assert.ok(Date.now() < deadline, `only ${[...workers]} answered`);
      }
      assert.deepEqual([...workers].sort(), workerPids(host).sort());
      // The primary's umask is set for the socket; its workers (and what their functions
      // create) keep the one the host was started with.
      const workerUmask = umaskOf(workerPids(host)[0]);
      if (workerUmask !== null) assert.equal(workerUmask, '0002');
    } finally {
      assert.deepEqual(await host.stop(), {code: 0, signal: null});
    }
    assert.ok(!fs.existsSync(socketPath), 'the socket file outlived the cluster');
  });

  test('recycle a worker on the socket without losing a call', async () => {
    const socketPath = path.join(dir, 'recycled.sock');
    const host = await startHost(CLUSTER_CONFIG, {socket: socketPath, args: ['--workers', '1', '--max-requests', '3']});
    try {
      // The old worker serves until its replacement listens: call until both have answered.
      const pids = new Set();
      const deadline = Date.now() + PATIENCE;
      for (let call = 0; pids.size < 2; call += 1) {
        const res = await host.call('echo_pid', {id: call});
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json().id, call);
        pids.add(res.json().pid);
        assert.ok(Date.now() < deadline, `only ${[...pids]} answered`);
      }
      assert.ok(isSocket(socketPath));
    } finally {
      assert.deepEqual(await host.stop(), {code: 0, signal: null});
    }
    assert.ok(!fs.existsSync(socketPath));
  });

  test('do not start where a host answers: the primary exits 1 with the named error', async () => {
    const socketPath = path.join(dir, 'taken.sock');
    const first = await startHost(FUNCTIONS_CONFIG, {socket: socketPath});
    try {
      const {code, stderr} = await runCli([CLUSTER_CONFIG, '--socket', socketPath, '--workers', '2'], {timeout: PATIENCE});
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`js-host: cannot listen on unix:${socketPath}: a server already answers on ${socketPath}`));
      assert.equal((await first.call('hello_world')).text, 'Hello, World!');
    } finally {
      await first.stop();
    }
  });
});
