'use strict';
// `js-host CONFIG --workers N`: a primary and N worker processes on node:cluster sharing one
// port. Workers are children of the primary, so each test learns their pids from the
// primary's log ("cluster: worker PID started"), checks they are gone once the primary has
// exited, and SIGKILLs any left behind by pid.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const {after, afterEach, before, describe, test} = require('node:test');

const {fixture, makeTempDir, request, runCli, spawnBin, readFirstLine, startHost, waitFor, waitForExit} = require('./helpers');

const CLUSTER_CONFIG = fixture('cluster.config.js');
const JSON_HEADERS = {'Content-Type': 'application/json'};
// Process starts are slow on a loaded 2-core machine: conditions are waited on this long.
const PATIENCE = 15000;

// The pids of every worker the primary of `host` has started so far, in order.
function workerPids(host) {
  return [...host.output.stdout.matchAll(/cluster: worker (\d+) started/g)].map((match) => Number(match[1]));
}

// True while `pid` runs; a zombie (exited, not yet reaped by whoever adopted it) does not.
function isRunning(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()[0] !== 'Z';
  } catch {
    return true; // no /proc (not Linux): the pid exists
  }
}

async function assertWorkersGone(pids) {
  assert.ok(pids.length > 0, 'the primary logged its workers');
  await waitFor(() => !pids.some(isRunning), {timeout: 5000, what: `workers ${pids} to be gone`});
}

// POSTs kwargs to /function/<name> and parses the JSON answer.
async function callJson(port, name, kwargs, agent = false) {
  const res = await request(port, {path: `/function/${name}`, body: JSON.stringify(kwargs), agent});
  assert.equal(res.status, 200, res.text);
  return res.json();
}

describe('js-host --workers', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  // Every host a test starts: stopped, and its workers killed by pid, whatever the test did.
  const started = [];
  // Resolves once the primary has printed its status line and logged its workers' start.
  async function startCluster(args, workers) {
    const host = await startHost(CLUSTER_CONFIG, {args});
    started.push(host);
    await waitFor(() => workerPids(host).length === workers, {timeout: PATIENCE, what: 'the log of the workers starting'});
    return host;
  }
  afterEach(async () => {
    for (const host of started.splice(0)) {
      await host.stop('SIGKILL');
      for (const pid of workerPids(host)) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  test('spreads fresh connections over the workers, which share the one port given by --port 0', async () => {
    const host = await startCluster(['--workers', '2'], 2);
    // The status line is the primary's, printed once both workers listen.
    assert.equal(host.status.pid, host.child.pid);
    assert.deepEqual(host.status.workers, {count: 2, primaryPid: host.child.pid});
    assert.ok(host.status.config.functions.includes('echo_pid'));
    assert.equal(host.output.stdout.split('\n')[0], host.firstLine, 'the status line comes first');
    const workers = workerPids(host);
    assert.equal(workers.length, 2);

    const answered = new Set();
    for (let i = 0; i < 8; i += 1) {
      const status = (await host.request({method: 'GET', path: '/status'})).json();
      assert.deepEqual(status.workers, {count: 2, primaryPid: host.child.pid});
      assert.equal(status.config.port, host.port);
      assert.equal(status.config.configHash, host.status.config.configHash);
      answered.add(status.pid);
    }
    assert.deepEqual([...answered].sort(), [...workers].sort());

    assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
    await assertWorkersGone(workers);
  });

  test('replaces a worker killed with SIGKILL, and calls keep working', async () => {
    const host = await startCluster(['--workers', '2'], 2);
    const [victim, survivor] = workerPids(host);
    process.kill(victim, 'SIGKILL');
    await waitFor(() => host.output.stderr.includes(`worker ${victim} exited unexpectedly (killed by SIGKILL); starting a replacement in 100ms`), {
      timeout: PATIENCE,
      what: 'the primary to notice',
    });
    // The survivor answers meanwhile.
    assert.equal((await callJson(host.port, 'echo_pid', {id: 1})).pid, survivor);
    await waitFor(() => workerPids(host).length === 3 && host.output.stdout.includes(`worker ${workerPids(host)[2]} listening`), {
      timeout: PATIENCE,
      what: 'a replacement worker',
    });
    const replacement = workerPids(host)[2];
    const answered = new Set();
    for (let id = 0; id < 6; id += 1) answered.add((await callJson(host.port, 'echo_pid', {id})).pid);
    assert.deepEqual([...answered].sort(), [survivor, replacement].sort());

    assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
    await assertWorkersGone(workerPids(host));
  });

  test('waits longer before each replacement while workers keep dying', async () => {
    const host = await startCluster(['--workers', '1'], 1);
    for (const [deaths, delay] of [100, 200, 400].entries()) {
      await waitFor(() => workerPids(host).length === deaths + 1, {timeout: PATIENCE, what: 'a replacement'});
      const pid = workerPids(host)[deaths];
      await waitFor(() => host.output.stdout.includes(`cluster: worker ${pid} listening`), {timeout: PATIENCE, what: `worker ${pid}`});
      assert.equal((await callJson(host.port, 'exit_worker', {code: 3})).pid, pid);
      await waitFor(() => host.output.stderr.includes(`worker ${pid} exited unexpectedly (exit code 3); starting a replacement in ${delay}ms`), {
        timeout: PATIENCE,
        what: `the ${delay}ms backoff`,
      });
    }
    await waitFor(() => workerPids(host).length === 4, {timeout: PATIENCE, what: 'the last replacement'});
    assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
    await assertWorkersGone(workerPids(host));
  });

  test('prints the status line first though workers print while loading, and all log to --logfile', async () => {
    const logfile = path.join(dir, 'cluster.log');
    const host = await startHost(fixture('chatty.config.js'), {args: ['--workers', '2', '--logfile', logfile]});
    started.push(host);
    await waitFor(() => workerPids(host).length === 2 && host.output.stdout.split('chatty config: loading').length === 3, {
      timeout: PATIENCE,
      what: 'the workers loading the config',
    });
    assert.deepEqual(host.status.config.functions, ['shout']);
    assert.equal((await host.call('shout')).text, 'ok');
    assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
    const logged = fs.readFileSync(logfile, 'utf8');
    assert.ok(logged.startsWith(`${host.firstLine}\n`), logged);
    assert.equal(logged.split('chatty config: loading\n').length, 3, logged);
    assert.match(logged, /chatty config: shout to stdout\n/);
    assert.match(logged, /chatty config: shout to stderr\n/);
    for (const pid of workerPids(host)) assert.match(logged, new RegExp(`Worker ${pid} stopped\n`));
    assert.match(logged, /Host stopped\n$/);
  });

  test('--max-requests recycles workers under load without losing or failing a call', async (t) => {
    const host = await startCluster(['--workers', '2', '--max-requests', '20', '--max-requests-jitter', '5'], 2);
    const CLIENTS = 4;
    const CALLS = 100;
    // Long enough for recycles to happen during the load (a worker takes ~100 ms to start),
    // and for calls to be in flight in a worker when it is told to stop.
    const CALL_MS = 10;
    let retried = 0;
    // Each client keeps one connection alive. A retiring worker answers with Connection:
    // close, then closes the connections left idle: a client sending on one just then sees
    // its reused socket reset before any answer (the request was never received) and sends
    // it again, as Node documents for keep-alive (rare: counted, not failed).
    async function client(number) {
      const agent = new http.Agent({keepAlive: true, maxSockets: 1});
      const pids = [];
      try {
        for (let call = 0; call < CALLS; call += 1) {
          const id = `${number}-${call}`;
          for (;;) {
            const res = await new Promise((resolve, reject) => {
              const body = JSON.stringify({id, ms: CALL_MS});
              const options = {host: '127.0.0.1', port: host.port, method: 'POST', path: '/function/slow_pid', headers: JSON_HEADERS, agent};
              const req = http.request(options, (answer) => {
                let text = '';
                answer.setEncoding('utf8').on('data', (chunk) => (text += chunk));
                answer.on('end', () => resolve({status: answer.statusCode, text}));
              });
              req.on('error', (err) => resolve({error: err, reused: req.reusedSocket}));
              req.end(body);
            });
            if (res.error && res.reused && res.error.code === 'ECONNRESET') {
              retried += 1;
              continue;
            }
            assert.ifError(res.error);
            assert.equal(res.status, 200, res.text);
            const answer = JSON.parse(res.text);
            assert.equal(answer.id, id);
            pids.push(answer.pid);
            break;
          }
        }
      } finally {
        agent.destroy();
      }
      return pids;
    }
    const answeredBy = (await Promise.all(Array.from({length: CLIENTS}, (_, number) => client(number)))).flat();
    assert.equal(answeredBy.length, CLIENTS * CALLS);
    const recycled = host.output.stdout.match(/cluster: recycling worker \d+ \(served \d+ requests, its --max-requests limit\)/g) || [];
    // Fewer than 400 / 25 on a slow machine: a worker serves on until its replacement listens.
    assert.ok(recycled.length >= 3, `${recycled.length} recycled:\n${host.output.stdout}`);
    assert.ok(new Set(answeredBy).size >= 4, 'calls were answered by the replacements');
    assert.doesNotMatch(host.output.stderr, /exited unexpectedly|failed to start|warning/);
    t.diagnostic(`${recycled.length} recycles, ${retried} retried requests`);

    assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
    await assertWorkersGone(workerPids(host));
  });

  test('--max-memory recycles a worker whose RSS grows past it (and implies --workers 1)', async () => {
    const host = await startCluster(['--max-memory', '120'], 1);
    assert.deepEqual(host.status.workers, {count: 1, primaryPid: host.child.pid});
    const [first] = workerPids(host);
    const {pid, rss} = await callJson(host.port, 'hog', {mb: 100});
    assert.equal(pid, first);
    assert.ok(rss > 120 * 1024 * 1024, `RSS ${rss}`);
    await waitFor(() => host.output.stdout.includes(`cluster: worker ${first} stopped (exit code 0)`), {
      timeout: PATIENCE,
      what: 'the worker to be recycled',
    });
    assert.match(host.output.stdout, new RegExp(`cluster: recycling worker ${first} \\(RSS \\d+ MB is over --max-memory 120\\)`));
    const second = workerPids(host)[1];
    assert.equal((await callJson(host.port, 'echo_pid', {id: 1})).pid, second);

    assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
    await assertWorkersGone([first, second]);
  });

  test('SIGTERM to the primary lets the calls in flight finish in every worker, then exits 0', async () => {
    const host = await startCluster(['--workers', '2'], 2);
    const workers = workerPids(host);
    const calls = Array.from({length: 4}, (_, id) => callJson(host.port, 'slow_pid', {id, ms: 500}));
    // Time for the requests to reach the workers before the signal does.
    await new Promise((resolve) => setTimeout(resolve, 200));
    host.child.kill('SIGTERM');
    const answers = await Promise.all(calls);
    assert.deepEqual(
      answers.map((answer) => answer.id),
      [0, 1, 2, 3],
    );
    assert.deepEqual(new Set(answers.map((answer) => answer.pid)), new Set(workers));
    assert.deepEqual(await waitForExit(host, PATIENCE), {code: 0, signal: null});
    assert.match(host.output.stdout, /Host stopping \(SIGTERM\)\n/);
    assert.match(host.output.stdout, /Host stopped\n$/);
    await assertWorkersGone(workers);
  });

  test('Ctrl-C (SIGINT to the whole process group) drains through the primary, which exits 0', async () => {
    // Its own process group, like a shell's foreground job.
    const cli = spawnBin([CLUSTER_CONFIG, '--port', '0', '--json', '--workers', '2'], {detached: true});
    const port = JSON.parse(await readFirstLine(cli, 'the primary')).config.port;
    await waitFor(() => workerPids(cli).length === 2, {timeout: PATIENCE, what: 'the log of the workers starting'});
    try {
      const inFlight = callJson(port, 'slow_pid', {id: 'ctrl-c', ms: 500});
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(-cli.child.pid, 'SIGINT');
      assert.equal((await inFlight).id, 'ctrl-c');
      assert.deepEqual(await waitForExit(cli, PATIENCE), {code: 0, signal: null});
      assert.match(cli.output.stdout, /Host stopping \(SIGINT\)\n/);
      await assertWorkersGone(workerPids(cli));
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      for (const pid of workerPids(cli)) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  test('workers exit when their primary is killed with SIGKILL', async () => {
    const host = await startCluster(['--workers', '2'], 2);
    const workers = workerPids(host);
    host.child.kill('SIGKILL');
    await host.exited;
    await assertWorkersGone(workers);
    for (const pid of workers) assert.match(host.output.stderr, new RegExp(`Worker ${pid}: its primary is gone \\(IPC channel closed\\); exiting`));
  });
});

describe('js-host --workers start-up failures', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  test('a config with a syntax error exits 1 at once with the SyntaxError, said once', async () => {
    const config = path.join(dir, 'syntax.config.js');
    fs.writeFileSync(config, 'module.exports = {\n  functions: {\n    a: 1\n    b: 2\n  }\n};\n');
    const {code, stdout, stderr} = await runCli([config, '--port', '0', '--json', '--workers', '2'], {timeout: PATIENCE});
    assert.equal(code, 1);
    assert.ok(stderr.startsWith(`js-host: cannot load config file ${config}: SyntaxError: Unexpected identifier`), stderr);
    assert.equal(stderr.match(/cannot load config file/g).length, 1);
    assert.doesNotMatch(stdout, /^\{/, 'no status line');
    await assertWorkersGone(workerPids({output: {stdout}}));
  });

  test('a port in use exits 1 naming the port', async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const {port} = blocker.address();
    try {
      const {code, stdout, stderr} = await runCli([CLUSTER_CONFIG, '--port', String(port), '--workers', '2'], {timeout: PATIENCE});
      assert.equal(code, 1);
      assert.equal(stderr, `js-host: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)\n`);
      await assertWorkersGone(workerPids({output: {stdout}}));
    } finally {
      blocker.close();
    }
  });

  const badValues = [
    [['--workers', '0'], /--workers must be a whole number from 1 up, or auto, got "0"/],
    [['--workers', 'abc'], /--workers must be a whole number from 1 up, or auto, got "abc"/],
    [['--workers', '1.5'], /--workers must be a whole number from 1 up, or auto, got "1.5"/],
    [['--max-requests', '0'], /--max-requests must be a whole number from 1 up, got "0"/],
    [['--max-memory=-1'], /--max-memory must be a number of megabytes above 0, got "-1"/],
    [['--max-memory', '-1'], /'--max-memory' argument is ambiguous/],
    [['--max-memory', '0'], /--max-memory must be a number of megabytes above 0, got "0"/],
    [['--max-requests-jitter', '5'], /--max-requests-jitter only goes with --max-requests/],
    [['--max-requests', '10', '--max-requests-jitter', 'x'], /--max-requests-jitter must be a whole number from 0 up, got "x"/],
  ];
  for (const [args, message] of badValues) {
    test(`${args.join(' ')} is a usage error`, async () => {
      const {code, stdout, stderr} = await runCli([CLUSTER_CONFIG, ...args]);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.match(stderr, /Usage: js-host CONFIG/);
    });
  }

  test('--workers does not go with --manager', async () => {
    const {code, stderr} = await runCli(['--manager', '--socket', path.join(dir, 'manager.sock'), '--workers', '2']);
    assert.equal(code, 2);
    assert.match(stderr, /--workers does not go with --manager/);
  });

  test('--help describes the cluster flags', async () => {
    const {code, stdout} = await runCli(['--help']);
    assert.equal(code, 0);
    for (const flag of ['--workers N', '--max-requests N', '--max-requests-jitter J', '--max-memory MB']) assert.ok(stdout.includes(flag), flag);
    assert.match(stdout, /--max-requests or --max-memory without --workers imply --workers 1/);
  });
});
