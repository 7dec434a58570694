'use strict';
// The limits a client cannot push a host past (config.js): headers and bodies that do not
// arrive in time, too many connections, a client that does not read its answer, JSON nested
// too deep. Each is cut while the host goes on serving everyone else.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {fixture, makeTempDir, runCli, startHost} = require('./helpers');

let host;
before(async () => {
  host = await startHost(fixture('limits.config.js'));
});
after(async () => {
  await host?.stop();
});

// A raw connection to the host; resolves with everything it received once it closed, and
// when (ms after `sent`).
function rawConnection() {
  const socket = net.connect(host.port, '127.0.0.1');
  const received = [];
  const closed = new Promise((resolve) => {
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(received).toString('latin1')));
  });
  const connected = new Promise((resolve) => socket.once('connect', resolve));
  return {socket, closed, connected};
}

async function assertServes() {
  const res = await host.call('hello_world', {name: 'still'});
  assert.equal(res.status, 200);
  assert.equal(res.text, 'Hello, still!');
}

function elapsed(since) {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

describe('requests that do not arrive in time', () => {
  test('headers that trickle past headersTimeout get 408 and the connection is closed', async () => {
    const {socket, closed, connected} = rawConnection();
    await connected;
    const started = process.hrtime.bigint();
    socket.write('POST /function/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const timer = setInterval(() => socket.writable && socket.write('a'), 50);
    await assertServes(); // others are served meanwhile
    const answer = await closed;
    clearInterval(timer);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed(started) < 300 + 2500, `cut after ${elapsed(started)} ms`);
  });

  test('a body that trickles past requestTimeout gets 408, and the call never runs', async () => {
    const {socket, closed, connected} = rawConnection();
    await connected;
    const started = process.hrtime.bigint();
    socket.write('POST /function/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a": "');
    const timer = setInterval(() => socket.writable && socket.write('x'), 50);
    const answer = await closed;
    clearInterval(timer);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed(started) >= 600 && elapsed(started) < 600 + 2500, `cut after ${elapsed(started)} ms`);
    await assertServes();
  });
});

describe('connections', () => {
  test('past maxConnections a new connection is closed at once; the open ones are served', async () => {
    const held = [];
    for (let i = 0; i < 8; i++) {
      const connection = rawConnection();
      await connection.connected;
      held.push(connection);
    }
    // The host counts a connection once it has accepted it: ask on the first to be sure.
    held[0].socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await new Promise((resolve) => held[0].socket.once('data', resolve));
    const extra = rawConnection();
    extra.socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal(await extra.closed, '', 'closed without an answer');
    // An open one still gets its answer.
    held[1].socket.write('POST /function/hello_world HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    assert.match(await held[1].closed, /^HTTP\/1\.1 200 [^]*Hello, World!$/);
    for (const {socket, closed} of held) {
      socket.destroy();
      await closed;
    }
    await assertServes();
  });

  test('a client that does not read its answer is dropped after writeTimeout', async () => {
    const {socket, closed, connected} = rawConnection();
    await connected;
    socket.pause(); // reads nothing: the 20 MB answer waits in the host
    socket.write('POST /function/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    await new Promise((resolve) => setTimeout(resolve, 500 + 1500));
    socket.resume(); // too late: what is left of it was dropped
    const answer = await closed;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.ok(answer.length < 20 * 1024 * 1024, `got all ${answer.length} bytes`);
    await assertServes();
  });
});

describe('JSON nested too deep', () => {
  test('is refused (400 JSONTooDeep) before it is parsed; up to maxJsonDepth is served', async () => {
    const deep = await host.call('echo', null, {body: '{"a": [[{"b": 1}]]}'});
    assert.equal(deep.status, 400, deep.text);
    assert.equal(deep.json().name, 'JSONTooDeep');
    assert.match(deep.json().message, /more than 3 levels deep \(maxJsonDepth\)/);
    const huge = await host.call('echo', null, {body: '['.repeat(4_000_000)});
    assert.equal(huge.json().name, 'JSONTooDeep');
    const fits = await host.call('echo', {a: [[1]], text: '[[[[[[ "in a string" ]]]]]]'});
    assert.equal(fits.status, 200, fits.text);
    assert.deepEqual(fits.json(), {a: [[1]], text: '[[[[[[ "in a string" ]]]]]]'});
  });
});

describe('limits in the config file', () => {
  test('bad values are config errors naming the key', async () => {
    const dir = makeTempDir();
    for (const [settings, message] of [
      ['{headersTimeout: 5000, requestTimeout: 1000}', /requestTimeout \(1000\) must not be shorter than headersTimeout \(5000\)/],
      ['{maxConnections: 0}', /maxConnections must be a whole number above 0, got 0/],
      ['{writeTimeout: -1}', /writeTimeout must be a number of milliseconds above 0/],
      ['{maxJsonDepth: 1.5}', /maxJsonDepth must be a whole number above 0/],
    ]) {
      const file = path.join(dir, 'limits.config.js');
      fs.writeFileSync(file, `module.exports = Object.assign({functions: {}}, ${settings});\n`);
      const {code, stderr} = await runCli([file, '--config']);
      assert.equal(code, 1, settings);
      assert.match(stderr, message);
    }
    fs.rmSync(dir, {recursive: true});
  });
});
