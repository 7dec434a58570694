'use strict';
// Stopping on SIGTERM / SIGINT (drain in-flight calls, don't wait for idle keep-alive
// connections, cut what is left after the grace period) and the logfile.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {fixture, makeTempDir, startHost, waitFor} = require('./helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');

describe('stopping', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  test('SIGTERM lets a call in flight finish, refuses new connections, then exits 0', async () => {
    const host = await startHost(FUNCTIONS_CONFIG);
    try {
      const inFlight = host.call('slow', {ms: 600});
      // Time for the request to reach the host before the signal does.
      await new Promise((resolve) => setTimeout(resolve, 150));
      host.child.kill('SIGTERM');
      await waitFor(() => host.output.stdout.includes('Host stopping (SIGTERM)'), {what: 'Host stopping'});
      await assert.rejects(host.call('hello_world'), {code: 'ECONNREFUSED'});
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.equal(res.text, 'waited 600ms');
      assert.equal(res.headers.connection, 'close');
      assert.deepEqual(await host.exited, {code: 0, signal: null});
      assert.match(host.output.stdout, /Host stopping \(SIGTERM\)\n.*slow 200 [\d.]+ms\nHost stopped\n$/);
    } finally {
      await host.stop();
    }
  });

  test('an idle keep-alive connection does not hold up SIGINT', async () => {
    const host = await startHost(FUNCTIONS_CONFIG);
    const agent = new http.Agent({keepAlive: true});
    try {
      const res = await host.call('hello_world', {}, {agent});
      assert.equal(res.headers.connection, 'keep-alive');
      assert.equal(res.headers['keep-alive'], 'timeout=60');
      const stopping = Date.now();
      const exit = await host.stop('SIGINT');
      assert.deepEqual(exit, {code: 0, signal: null});
      assert.ok(Date.now() - stopping < 2000, 'stopped well within the 10 s grace period');
      assert.match(host.output.stdout, /Host stopping \(SIGINT\)\nHost stopped\n$/);
    } finally {
      agent.destroy();
      await host.stop();
    }
  });

  test('calls still running after the grace period are cut, and the host exits 0', async () => {
    const config = path.join(dir, 'short-grace.config.js');
    fs.writeFileSync(config, `module.exports = {...require(${JSON.stringify(FUNCTIONS_CONFIG)}), shutdownGracePeriod: 200};\n`);
    const host = await startHost(config);
    try {
      // Settled into a value at once, so the expected failure is never an unhandled rejection.
      const inFlight = host.call('slow', {ms: 5000}).then(
        (res) => res.status,
        (err) => err.code,
      );
      await new Promise((resolve) => setTimeout(resolve, 150));
      const stopping = Date.now();
      const exit = await host.stop('SIGTERM');
      assert.deepEqual(exit, {code: 0, signal: null});
      assert.ok(Date.now() - stopping < 2000);
      assert.equal(await inFlight, 'ECONNRESET');
      assert.match(host.output.stderr, /warning: cut 1 connection\(s\) still open after the 200ms grace period/);
    } finally {
      await host.stop();
    }
  });
});

describe('--logfile', () => {
  test('receives every line of both streams, and keeps the ones already there', async () => {
    const dir = makeTempDir();
    const logfile = path.join(dir, 'host.log');
    fs.writeFileSync(logfile, 'an earlier line\n');
    const host = await startHost(FUNCTIONS_CONFIG, {args: ['--logfile', logfile]});
    try {
      assert.equal((await host.call('hello_world')).status, 200);
      assert.equal((await host.call('sync_throw')).status, 500);
      assert.deepEqual(await host.stop(), {code: 0, signal: null});
      const logged = fs.readFileSync(logfile, 'utf8');
      const lines = logged.split('\n');
      assert.equal(lines[0], 'an earlier line');
      assert.deepEqual(JSON.parse(lines[1]), host.status);
      assert.match(logged, /\n\d{4}-\d\d-\d\dT[\d:.]+Z hello_world 200 [\d.]+ms\n/);
      assert.match(logged, /Z sync_throw 500: TypeError: thrown synchronously\n\s+at /);
      assert.match(logged, /Z sync_throw 500 [\d.]+ms\n/);
      assert.match(logged, /Host stopping \(SIGTERM\)\nHost stopped\n$/);
      assert.ok(host.output.stdout.endsWith('Host stopped\n'));
    } finally {
      await host.stop();
      fs.rmSync(dir, {recursive: true, force: true});
    }
  });

  test("also receives what the user's own code prints, on both streams", async () => {
    const dir = makeTempDir();
    const logfile = path.join(dir, 'host.log');
    const host = await startHost(fixture('chatty.config.js'), {args: ['--logfile', logfile]});
    try {
      assert.equal((await host.call('shout')).text, 'ok');
      await host.stop();
      const logged = fs.readFileSync(logfile, 'utf8');
      assert.match(logged, /^\{"type":"Host".*\nchatty config: loading\n/);
      assert.match(logged, /\nchatty config: shout to stdout\n/);
      assert.match(logged, /\nchatty config: shout to stderr\n/);
    } finally {
      await host.stop();
      fs.rmSync(dir, {recursive: true, force: true});
    }
  });
});
