'use strict';
// Function errors in every shape, answered as 500 with name, message and stack, and the
// host still serving afterwards; plus what the host does with errors that belong to no call.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {fixture, makeTempDir, startHost, waitFor, waitForExit} = require('./helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');

describe('function errors', () => {
  let host;
  before(async () => {
    host = await startHost(FUNCTIONS_CONFIG);
  });
  after(async () => {
    await host?.stop();
  });

  async function assertStillServing() {
    const res = await host.call('hello_world');
    assert.equal(res.status, 200);
    assert.equal(res.text, 'Hello, World!');
  }

  for (const [name, errorName, message] of [
    ['sync_throw', 'TypeError', 'thrown synchronously'],
    ['async_throw', 'RangeError', 'thrown from an async function'],
    ['rejects', 'Error', 'rejected promise'],
    ['cb_error', 'Error', 'passed to the callback'],
    ['uncaught_in_timer', 'SyntaxError', 'thrown later, in a timer'],
    ['unhandled_rejection', 'Error', 'rejected later, unhandled'],
    ['double', 'Error', 'No number was provided'],
  ]) {
    test(`${name}: 500 with ${errorName}, message and stack`, async () => {
      const res = await host.call(name);
      assert.equal(res.status, 500, res.text);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['content-length'], String(res.body.length));
      const body = res.json();
      assert.deepEqual(Object.keys(body), ['name', 'message', 'stack', 'function']);
      assert.equal(body.name, errorName);
      assert.equal(body.message, message);
      assert.ok(body.stack.startsWith(`${errorName}: ${message}\n`), body.stack);
      assert.match(body.stack, /functions\.config\.js:\d+/);
      assert.equal(body.function, name);
      await waitFor(() => host.output.stderr.includes(`${name} 500: ${errorName}: ${message}`), {what: 'the stderr line'});
      await assertStillServing();
    });
  }

  for (const [name, message] of [
    ['cb_string_error', 'just a string'],
    ['throw_string', 'a thrown string'],
  ]) {
    test(`${name}: a value that is not an Error becomes {name: 'Error', message, stack: ''}`, async () => {
      const res = await host.call(name);
      assert.equal(res.status, 500);
      assert.deepEqual(res.json(), {name: 'Error', message, stack: '', function: name});
      await assertStillServing();
    });
  }

  test('a second callback is logged as a warning naming the function and ignored', async () => {
    const res = await host.call('answers_twice');
    assert.equal(res.status, 200);
    assert.equal(res.text, 'first');
    await waitFor(() => /warning: function "answers_twice" already answered \(by its callback\); ignoring a later callback/.test(host.output.stderr), {
      what: 'the warning',
    });
    await assertStillServing();
  });

  test('a callback after the returned promise answered is logged and ignored', async () => {
    const res = await host.call('promise_then_callback');
    assert.equal(res.text, 'from the promise');
    await waitFor(() => host.output.stderr.includes('"promise_then_callback" already answered (by its returned promise); ignoring a later callback'), {
      what: 'the warning',
    });
  });

  test('an exception thrown after the answer is logged against the function', async () => {
    const res = await host.call('throws_after_answering');
    assert.equal(res.text, 'answered');
    await waitFor(() => host.output.stderr.includes('"throws_after_answering" already answered (by its callback); ignoring a later uncaught exception\nError: thrown after answering'), {
      what: 'the warning',
    });
    await assertStillServing();
  });

  test('a client that goes away mid-call does not hurt the host', async () => {
    await new Promise((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port: host.port,
        method: 'POST',
        path: '/function/slow',
        headers: {'Content-Type': 'application/json'},
        agent: false,
      });
      req.on('error', resolve);
      req.end(JSON.stringify({ms: 200}));
      setTimeout(() => req.destroy(), 50);
    });
    await waitFor(() => /warning: slow: the connection closed after [\d.]+ms, before the answer/.test(host.output.stderr), {what: 'the warning'});
    await waitFor(() => /slow 200 [\d.]+ms \(connection closed: answer dropped\)/.test(host.output.stdout), {
      what: 'the late answer',
      timeout: 2000,
    });
    await assertStillServing();
    assert.equal(host.child.exitCode, null);
  });
});

describe('errors that belong to no call', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  function writeConfig(name, source) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, source);
    return file;
  }

  test('an uncaught exception outside any call is logged with its stack, and the host keeps serving', async () => {
    const config = writeConfig(
      'stray-throw.config.js',
      "module.exports = {functions: {ping: (data, cb) => cb(null, 'pong')}};\nsetTimeout(() => { throw new Error('no call owns this'); }, 300);\n",
    );
    const host = await startHost(config);
    try {
      await waitFor(() => host.output.stderr.includes('no call owns this'), {what: 'the log line'});
      assert.match(host.output.stderr, /error: uncaught exception outside any function call \(the host keeps running\)\nError: no call owns this\n\s+at .*stray-throw\.config\.js:2/);
      assert.equal((await host.call('ping')).text, 'pong');
    } finally {
      await host.stop();
    }
  });

  for (const workers of [[], ['--workers', '2']]) {
    test(`an error a function leaves behind after answering does not cut the calls in flight${workers.length ? ' (--workers 2)' : ''}`, async () => {
      const config = writeConfig(
        'leaves-errors.config.js',
        [
          'module.exports = {functions: {',
          "  later(data, cb) { cb(null, 'answered'); queueMicrotask(() => { throw new Error('thrown after the answer'); }); },",
          "  timer(data, cb) { cb(null, 'answered'); setTimeout(() => { throw new Error('thrown by a timer after the answer'); }, 20); },",
          "  slow(data, cb) { setTimeout(() => cb(null, 'slow done'), 400); },",
          '}};',
          '',
        ].join('\n'),
      );
      const host = await startHost(config, {args: workers});
      try {
        const inFlight = [host.call('slow'), host.call('slow')];
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal((await host.call('later')).text, 'answered');
        assert.equal((await host.call('timer')).text, 'answered');
        for (const res of await Promise.all(inFlight)) assert.equal(res.text, 'slow done');
        await waitFor(() => host.output.stderr.includes('thrown by a timer after the answer'), {what: 'the log line'});
        assert.match(host.output.stderr, /uncaught exception outside any function call \(the host keeps running\)\nError: thrown after the answer\n\s+at /);
        assert.equal((await host.call('slow')).text, 'slow done');
        assert.equal(host.child.exitCode, null);
      } finally {
        await host.stop();
      }
    });
  }

  test('an unhandled rejection outside any call is logged and the host keeps running', async () => {
    const config = writeConfig(
      'stray-rejection.config.js',
      "module.exports = {functions: {ping: (data, cb) => cb(null, 'pong')}};\nsetTimeout(() => Promise.reject(new Error('nobody waits for this')), 50);\n",
    );
    const host = await startHost(config);
    try {
      await waitFor(() => host.output.stderr.includes('unhandled promise rejection outside any function call'), {what: 'the log line'});
      assert.match(host.output.stderr, /Error: nobody waits for this\n\s+at /);
      const res = await host.call('ping');
      assert.equal(res.text, 'pong');
    } finally {
      await host.stop();
    }
  });
});
