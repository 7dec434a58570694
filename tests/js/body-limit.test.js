'use strict';
// Request bodies at and over requestDataLimit. The case that matters most: Python's
// http.client sends its whole body before it reads, so it must get our 413, not a reset.

const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const {after, before, describe, test} = require('node:test');

const {fixture, startHost} = require('./helpers');

const LIMIT = 64 * 1024;

// A JSON object body of exactly `size` bytes.
function bodyOfSize(size) {
  const frame = '{"text": ""}';
  return Buffer.from(`{"text": "${'x'.repeat(size - frame.length)}"}`);
}

// Writes the whole request first and only then starts reading, as http.client does.
// Resolves with what was read and any socket error.
function sendWholeThenRead(port, path, body) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const received = [];
    let error = null;
    socket.on('error', (err) => {
      error = err;
    });
    socket.on('close', () => resolve({response: Buffer.concat(received).toString('latin1'), error}));
    const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    socket.write(head);
    socket.write(body, (err) => {
      if (err) return;
      socket.on('data', (chunk) => received.push(chunk));
    });
  });
}

describe('requestDataLimit', () => {
  let host;
  before(async () => {
    host = await startHost(fixture('small-limit.config.js'));
  });
  after(async () => {
    await host?.stop();
  });

  test('a body of exactly the limit is accepted', async () => {
    const body = bodyOfSize(LIMIT);
    const res = await host.call('echo_text', null, {body});
    assert.equal(res.status, 200);
    assert.equal(res.body.length, LIMIT - '{"text": ""}'.length);
  });

  test('one byte over is 413, naming the limit', async () => {
    const res = await host.call('echo_text', null, {body: bodyOfSize(LIMIT + 1)});
    assert.equal(res.status, 413);
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['content-length'], String(res.body.length));
    assert.deepEqual(res.json(), {
      name: 'RequestTooLarge',
      message: `Request body is over this host's requestDataLimit of ${LIMIT} bytes`,
    });
  });

  test('a client that sends its whole over-limit body before reading gets the 413, not a reset', async () => {
    // Big enough that the host closing at once would reset the client (node 20: from ~2 MB).
    const {response, error} = await sendWholeThenRead(host.port, '/function/echo_text', bodyOfSize(8 * 1024 * 1024));
    assert.equal(error, null);
    assert.match(response, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
    assert.match(response, /\r\nConnection: close\r\n/i);
    assert.match(response, /requestDataLimit of 65536 bytes/);
    const next = await host.call('hello_world');
    assert.equal(next.text, 'Hello, World!');
  });

  test('a chunked body over the limit is 413', async () => {
    const res = await new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: host.port,
        method: 'POST',
        path: '/function/echo',
        headers: {'Content-Type': 'application/json'},
        agent: false,
      });
      req.on('response', (response) => {
        response.resume();
        response.on('end', () => resolve(response));
      });
      req.on('error', reject);
      for (let i = 0; i < 3; i += 1) req.write(Buffer.alloc(LIMIT, ' '));
      req.end('{}');
    });
    assert.equal(res.statusCode, 413);
    const next = await host.call('hello_world');
    assert.equal(next.status, 200);
  });

  // Header names in any case: the host reads this one from rawHeaders.
  for (const header of ['Content-Length', 'content-length', 'CONTENT-length']) {
    test(`a body announced far over the limit (${header}) is refused at once, and the host keeps serving`, async () => {
      const status = await new Promise((resolve) => {
        const req = http.request({
          host: '127.0.0.1',
          port: host.port,
          method: 'POST',
          path: '/function/echo',
          headers: {'Content-Type': 'application/json', [header]: 1024 * 1024 * 1024},
          agent: false,
        });
        req.on('response', (response) => {
          response.resume();
          resolve(response.statusCode);
        });
        // Writing on after the refusal may fail with EPIPE or ECONNRESET: that is expected.
        req.on('error', () => resolve('connection closed'));
        req.write(Buffer.alloc(LIMIT, ' '));
      });
      assert.equal(status, 413);
      const next = await host.call('hello_world');
      assert.equal(next.status, 200);
    });
  }
});

describe('a raised limit', () => {
  let host;
  before(async () => {
    host = await startHost(fixture('large-limit.config.js'));
  });
  after(async () => {
    await host?.stop();
  });

  test('a ~10 MB payload round-trips byte for byte', async () => {
    const text = 'ascii, ünïcödé, 漢字 and 🎉 emoji; '.repeat(250 * 1024);
    const body = Buffer.from(JSON.stringify({text}));
    assert.ok(body.length > 10 * 1024 * 1024);
    const res = await host.call('echo_text', null, {body});
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(text)));
    assert.ok(res.body.equals(Buffer.from(text)), 'the echo differs from what was sent');
  });
});
