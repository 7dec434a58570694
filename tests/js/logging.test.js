'use strict';
// The log: one complete line per call on stdout and in --logfile, in the order of the answers,
// with what functions print in between. The per-call lines are written in batches, so these
// tests end the host right after its last answer, in every way it can end (SIGTERM, a
// function calling process.exit), also after an error outside any call, and check that no
// line is lost or cut.

const assert = require('node:assert/strict');
const {spawnSync} = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {timestamp} = require('../../django_js_host/js/lib/log');
const {fixture, makeTempDir, startHost, waitFor} = require('./helpers');

const LOGGING_CONFIG = fixture('logging.config.js');
const LOG_JS = path.resolve(__dirname, '../../django_js_host/js/lib/log.js');

// The whole line, so a line cut short or run into the next one does not match.
function callLine(name, status = 200) {
  return new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z ${name} ${status} \\d+\\.\\d\\dms$`);
}

// `expected` holds strings (equal) and regexps (matching), one per line.
function assertLines(text, expected) {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the text ends with a newline');
  assert.equal(lines.length, expected.length, `${lines.length} lines instead of ${expected.length}:\n${text}`);
  lines.forEach((line, index) => {
    const want = expected[index];
    if (want instanceof RegExp) assert.match(line, want, `line ${index}`);
    else assert.equal(line, want, `line ${index}`);
  });
}

describe('call log lines', () => {
  let dir;
  let logfile;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  async function startLoggingHost(name) {
    logfile = path.join(dir, `${name}.log`);
    return startHost(LOGGING_CONFIG, {args: ['--logfile', logfile]});
  }

  test('come in the order of the answers, with what functions print in between, and are all out on SIGTERM', async () => {
    const host = await startLoggingHost('order');
    try {
      const stdout = [];
      const logged = [];
      for (let i = 0; i < 20; i++) {
        assert.equal((await host.call(`call_${i}`)).text, String(i));
        stdout.push(callLine(`call_${i}`));
        logged.push(callLine(`call_${i}`));
        if (i % 5 === 1) {
          await host.call('print_stdout', {n: i});
          stdout.push(`printed to stdout by call ${i}`, callLine('print_stdout'));
          logged.push(`printed to stdout by call ${i}`, callLine('print_stdout'));
        }
        if (i % 5 === 3) {
          await host.call('print_stderr', {n: i});
          stdout.push(callLine('print_stderr'));
          logged.push(`printed to stderr by call ${i}`, callLine('print_stderr'));
        }
      }
      // At once: the last lines are still waiting to be written.
      assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
      const end = ['Host stopping (SIGTERM)', 'Host stopped'];
      assertLines(host.output.stdout, [host.firstLine, ...stdout, ...end]);
      assertLines(host.output.stderr, [3, 8, 13, 18].map((n) => `printed to stderr by call ${n}`));
      assertLines(fs.readFileSync(logfile, 'utf8'), [host.firstLine, ...logged, ...end]);
    } finally {
      await host.stop();
    }
  });

  test('of many calls at once are each complete', async () => {
    const host = await startLoggingHost('many');
    const agent = new http.Agent({keepAlive: true, maxSockets: 8});
    try {
      const calls = Array.from({length: 400}, (_, i) => host.call(`call_${i % 20}`, {}, {agent}));
      for (const res of await Promise.all(calls)) assert.equal(res.status, 200);
      assert.deepEqual(await host.stop('SIGTERM'), {code: 0, signal: null});
      for (const text of [host.output.stdout, fs.readFileSync(logfile, 'utf8')]) {
        const lines = text.split('\n').slice(1, -3);
        assert.equal(lines.length, 400);
        for (const line of lines) assert.match(line, callLine('call_\\d+'));
      }
    } finally {
      agent.destroy();
      await host.stop();
    }
  });

  test('are all out, with the error, when an error outside any call is logged', async () => {
    const host = await startLoggingHost('stray');
    try {
      for (let i = 0; i < 5; i++) await host.call(`call_${i}`);
      host.child.kill('SIGUSR2');
      await waitFor(() => host.output.stderr.includes('thrown by a signal handler'), {what: 'the error line'});
      host.child.kill('SIGTERM');
      assert.deepEqual(await host.exited, {code: 0, signal: null});
      const calls = [0, 1, 2, 3, 4].map((i) => callLine(`call_${i}`));
      assertLines(host.output.stdout, [host.firstLine, ...calls, /Host stopping \(SIGTERM\)/, 'Host stopped']);
      assert.match(host.output.stderr, /^\S+Z error: uncaught exception outside any function call \(the host keeps running\)\nError: thrown by a signal handler/);
      // The call lines, then the error, then the stop.
      const stopped = 'Host stopping (SIGTERM)\nHost stopped\n';
      assert.equal(fs.readFileSync(logfile, 'utf8'), host.output.stdout.replace(stopped, '') + host.output.stderr + stopped);
    } finally {
      await host.stop();
    }
  });

  test('are all out when a function calls process.exit()', async () => {
    const host = await startLoggingHost('exit');
    try {
      for (let i = 0; i < 5; i++) await host.call(`call_${i}`);
      await assert.rejects(host.call('exit'), {code: 'ECONNRESET'});
      assert.deepEqual(await host.exited, {code: 3, signal: null});
      const calls = [0, 1, 2, 3, 4].map((i) => callLine(`call_${i}`));
      assertLines(host.output.stdout, [host.firstLine, ...calls]);
      assertLines(fs.readFileSync(logfile, 'utf8'), [host.firstLine, ...calls]);
    } finally {
      await host.stop();
    }
  });
});

describe('the logger', () => {
  test('writes a full buffer at once, keeps the order with other writers, and writes the rest on exit', () => {
    const dir = makeTempDir();
    const logfile = path.join(dir, 'logger.log');
    // 2,000 lines of ~100 characters, far over the 64 KB buffer, in one event-loop turn.
    const script = `
      const fs = require('node:fs');
      const {createLogger} = require(${JSON.stringify(LOG_JS)});
      const logfile = process.argv[1];
      const logger = createLogger({logfile});
      for (let i = 0; i < 2000; i++) {
        logger.infoBatched(\`line \${i} \${'x'.repeat(90)}\`);
        if (i === 999 && fs.statSync(logfile).size === 0) throw new Error('nothing written after 100 KB');
        if (i === 1200) console.log('from console.log');
        if (i === 1500) logger.error('an error line');
        if (i === 1800) logger.info('an info line');
      }
      process.exit(0);
    `;
    try {
      const {status, stdout, stderr} = spawnSync(process.execPath, ['-e', script, logfile], {encoding: 'utf8'});
      assert.equal(status, 0, stderr);
      assert.equal(stderr, 'an error line\n');
      const lines = Array.from({length: 2000}, (_, i) => `line ${i} ${'x'.repeat(90)}`);
      const withStdout = [...lines];
      withStdout.splice(1801, 0, 'an info line');
      withStdout.splice(1201, 0, 'from console.log');
      assertLines(stdout, withStdout);
      const withBoth = [...lines];
      withBoth.splice(1801, 0, 'an info line');
      withBoth.splice(1501, 0, 'an error line');
      withBoth.splice(1201, 0, 'from console.log');
      assertLines(fs.readFileSync(logfile, 'utf8'), withBoth);
    } finally {
      fs.rmSync(dir, {recursive: true, force: true});
    }
  });

  test('timestamps are what toISOString() gives, to the millisecond', () => {
    const now = Date.now;
    try {
      for (const ms of [0, 7, 99, 100, 999, 1000, 1764170046000, 1764170046009, 1764170046087, 1764170046999, 1764170047000]) {
        Date.now = () => ms;
        assert.equal(timestamp(), new Date(ms).toISOString());
        assert.equal(timestamp(), new Date(ms).toISOString(), 'the same again, from the cache');
      }
    } finally {
      Date.now = now;
    }
    assert.match(timestamp(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});
