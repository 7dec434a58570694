'use strict';
// Who a host answers (lib/guard.js): on TCP only requests naming it in Host; never requests
// from a browser (Origin, a cross-site Sec-Fetch-Site); POST bodies only as JSON; and, with
// a token, only requests carrying it. Each refusal is checked to have left the function
// unrun: `mark` writes a file when it runs.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {fixture, makeTempDir, runCli, startHost, waitFor} = require('./helpers');

const GUARD_CONFIG = fixture('guard.config.js');
const TOKEN = 'tok-3c1f2a9e7b5d4c6a8e0f1b2d3c4a5e6f';

let dir;
before(() => {
  dir = makeTempDir();
});
after(() => fs.rmSync(dir, {recursive: true, force: true}));

let markCount = 0;
// A path for `mark` to write; the test asserts whether it exists.
function markFile() {
  markCount += 1;
  return path.join(dir, `marked-${markCount}`);
}

function assertRefused(res, status, name, messagePattern) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['content-length'], String(res.body.length));
  const body = res.json();
  assert.deepEqual(Object.keys(body), ['name', 'message']);
  assert.equal(body.name, name);
  if (messagePattern) assert.match(body.message, messagePattern);
  for (const header of Object.keys(res.headers)) assert.ok(!header.startsWith('access-control-'), header);
}

// POSTs `mark` with `headers`; resolves with the answer and whether the function ran.
async function postMark(host, headers) {
  const file = markFile();
  const res = await host.call('mark', {file}, {headers});
  return {res, ran: fs.existsSync(file)};
}

async function assertMarkRefused(host, headers, status, name, messagePattern) {
  const {res, ran} = await postMark(host, headers);
  assertRefused(res, status, name, messagePattern);
  assert.equal(ran, false, 'the function ran');
}

async function assertMarkServed(host, headers) {
  const {res, ran} = await postMark(host, headers);
  assert.equal(res.status, 200, `${JSON.stringify(headers)}: ${res.text}`);
  assert.equal(res.text, 'marked');
  assert.equal(ran, true);
}

// Sends `head` (the request line and headers) as it is, for what http.request cannot send;
// resolves with the answer's status code.
function rawStatus(port, head) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${head}\r\n`));
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk) => {
      received += chunk;
      const match = /^HTTP\/1\.[01] (\d{3}) /.exec(received);
      if (match) {
        socket.destroy();
        resolve(Number(match[1]));
      }
    });
    socket.on('error', reject);
  });
}

// A non-loopback IPv4 address of this machine, or null.
function externalIPv4() {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const {family, internal, address} of addresses ?? []) {
      if (!internal && (family === 'IPv4' || family === 4)) return address;
    }
  }
  return null;
}

describe('a TCP host answers only requests whose Host names it', () => {
  let host;
  before(async () => {
    host = await startHost(GUARD_CONFIG);
  });
  after(async () => {
    await host?.stop();
  });

  test('a rebound name (evil.example:PORT) is 421 on /status and on a call, which never runs', async () => {
    const evil = `evil.example:${host.port}`;
    const status = await host.request({method: 'GET', path: '/status', headers: {Host: evil}});
    assertRefused(status, 421, 'MisdirectedRequest', new RegExp(`The Host header "${evil}" does not name this host: .*add it to allowedHosts in ${GUARD_CONFIG}`));
    await assertMarkRefused(host, {Host: evil}, 421, 'MisdirectedRequest', /evil\.example/);
  });

  test('so are other names and Host values that are no host[:port]', async () => {
    for (const value of ['0.0.0.0', `example.com:${host.port}`, '127.0.0.1.evil.example', 'localhost.evil.example', '127.0.0.1:port', '[::1', '::1', '[evil]:80']) {
      await assertMarkRefused(host, {Host: value}, 421, 'MisdirectedRequest');
    }
  });

  test('loopback literals, localhost and [::1], with or without a port, are served', async () => {
    const port = host.port;
    const names = ['127.0.0.1', `127.0.0.1:${port}`, `127.8.9.10:${port}`, 'localhost', `LocalHost:${port}`, '[::1]', `[::1]:${port}`, `[0:0:0:0:0:0:0:1]:${port}`];
    for (const value of names) await assertMarkServed(host, {Host: value});
  });

  test("the config's allowedHosts are served, in any case, the port not compared", async () => {
    for (const value of ['js-host.internal', 'js-host.internal:8080', 'JS-HOST.INTERNAL', 'js-host.example:1', '[fd00::7]:9009', '[FD00:0::7]']) {
      await assertMarkServed(host, {Host: value});
    }
    await assertMarkRefused(host, {Host: 'other.internal'}, 421, 'MisdirectedRequest', /add it to allowedHosts/);
  });

  test('a request without Host (HTTP/1.0) is 421; with a second, foreign Host too', async () => {
    assert.equal(await rawStatus(host.port, 'GET /status HTTP/1.0\r\n'), 421);
    assert.equal(await rawStatus(host.port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n'), 421);
    assert.equal(await rawStatus(host.port, 'GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n'), 200);
  });

  test('refusals are logged, one line each', async () => {
    await assertMarkRefused(host, {Host: 'logged.example'}, 421, 'MisdirectedRequest');
    await waitFor(() => /POST \/function\/mark 421 [\d.]+ms MisdirectedRequest: Host "logged\.example"\n/.test(host.output.stdout), {
      what: 'the log line',
    });
  });
});

describe("a TCP host's own address", () => {
  const address = externalIPv4();

  test('is a name it answers to', {skip: address === null && 'no non-loopback IPv4 address'}, async () => {
    const host = await startHost(GUARD_CONFIG, {args: ['--address', address]});
    try {
      const res = await new Promise((resolve, reject) => {
        http.get({host: address, port: host.port, path: '/status', agent: false}, (answer) => {
          answer.resume();
          answer.on('end', () => resolve(answer.statusCode));
        }).on('error', reject);
      });
      assert.equal(res, 200);
    } finally {
      await host.stop();
    }
  });

  test('but not a wildcard: listening on 0.0.0.0, its names must be in allowedHosts', async () => {
    const host = await startHost(GUARD_CONFIG, {args: ['--address', '0.0.0.0']});
    try {
      await assertMarkRefused(host, {Host: `0.0.0.0:${host.port}`}, 421, 'MisdirectedRequest');
      if (address !== null) await assertMarkRefused(host, {Host: `${address}:${host.port}`}, 421, 'MisdirectedRequest');
      await assertMarkServed(host, {Host: `js-host.internal:${host.port}`});
    } finally {
      await host.stop();
    }
  });
});

describe('requests from browsers are refused', () => {
  let host;
  before(async () => {
    host = await startHost(GUARD_CONFIG);
  });
  after(async () => {
    await host?.stop();
  });

  test('any Origin, null and our own included, is 403', async () => {
    for (const origin of ['https://evil.example', 'null', `http://127.0.0.1:${host.port}`]) {
      await assertMarkRefused(host, {Origin: origin}, 403, 'CrossSiteRequest', /Origin/);
    }
    const status = await host.request({method: 'GET', path: '/status', headers: {Origin: 'null'}});
    assertRefused(status, 403, 'CrossSiteRequest');
  });

  test('Sec-Fetch-Site other than none is 403; none is served', async () => {
    for (const site of ['cross-site', 'same-site', 'same-origin']) {
      await assertMarkRefused(host, {'Sec-Fetch-Site': site}, 403, 'CrossSiteRequest', new RegExp(`Sec-Fetch-Site "${site}"`));
    }
    await assertMarkServed(host, {'Sec-Fetch-Site': 'none'});
  });

  test('a preflight (OPTIONS with Origin) is 403 and an OPTIONS without is 405: never CORS headers', async () => {
    const preflight = await host.request({
      method: 'OPTIONS',
      path: '/function/mark',
      headers: {Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST'},
    });
    assertRefused(preflight, 403, 'CrossSiteRequest');
    const options = await host.request({method: 'OPTIONS', path: '/function/mark'});
    assertRefused(options, 405, 'MethodNotAllowed');
  });
});

describe('a POST body must be sent as application/json', () => {
  let host;
  before(async () => {
    host = await startHost(GUARD_CONFIG);
  });
  after(async () => {
    await host?.stop();
  });

  test('what an HTML form or a no-preflight fetch can send is 415', async () => {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/json-seq']) {
      await assertMarkRefused(host, {'Content-Type': type}, 415, 'UnsupportedMediaType', new RegExp(`got "${type.replace(/[.+]/g, '\\$&')}"`));
    }
    await assertMarkRefused(host, {'Content-Type': null}, 415, 'UnsupportedMediaType', /got none/);
  });

  test('application/json with parameters, in any case, is served', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json ;charset=UTF-8']) {
      await assertMarkServed(host, {'Content-Type': type});
    }
  });

  test('a refusal keeps the connection usable', async () => {
    const agent = new http.Agent({keepAlive: true, maxSockets: 1});
    try {
      const refused = await host.call('echo', {a: 1}, {agent, headers: {'Content-Type': 'text/plain'}});
      assert.equal(refused.status, 415);
      const served = await host.call('echo', {a: 1}, {agent});
      assert.equal(served.status, 200);
      assert.equal(served.text, '{"a":1}');
    } finally {
      agent.destroy();
    }
  });
});

describe('a host with a token', () => {
  let config;
  before(() => {
    config = path.join(dir, 'token.config.js');
    fs.writeFileSync(config, `module.exports = Object.assign({}, require(${JSON.stringify(GUARD_CONFIG)}), {token: ${JSON.stringify(TOKEN)}});\n`);
  });

  // The environment of a host: the test's, without a JS_HOST_TOKEN it may have.
  function hostEnv(extra = {}) {
    const env = {...process.env, ...extra};
    if (!('JS_HOST_TOKEN' in extra)) delete env.JS_HOST_TOKEN;
    return env;
  }

  test('refuses a request without it or with a wrong one (401), and serves the right one', async () => {
    const host = await startHost(config, {env: hostEnv()});
    try {
      await assertMarkRefused(host, {}, 401, 'Unauthorized', /no X-JS-Host-Token header/);
      for (const wrong of ['wrong', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase(), '']) {
        await assertMarkRefused(host, {'X-JS-Host-Token': wrong}, 401, 'Unauthorized');
      }
      await assertMarkServed(host, {'X-JS-Host-Token': TOKEN});
      await assertMarkServed(host, {'x-js-host-token': TOKEN});

      const refused = await host.request({method: 'GET', path: '/status'});
      assertRefused(refused, 401, 'Unauthorized');
      const status = await host.request({method: 'GET', path: '/status', headers: {'X-JS-Host-Token': TOKEN}});
      assert.equal(status.status, 200);
      assert.ok(!status.text.includes(TOKEN), 'the token is in /status');
      assert.ok(!host.firstLine.includes(TOKEN), 'the token is in the status line');
      for (const res of [refused, status]) assert.ok(!res.text.includes(TOKEN));

      await waitFor(() => /POST \/function\/mark 401 [\d.]+ms Unauthorized: a wrong X-JS-Host-Token header\n/.test(host.output.stdout), {what: 'the log line'});
    } finally {
      await host.stop();
    }
    assert.ok(!host.output.stdout.includes(TOKEN) && !host.output.stderr.includes(TOKEN), 'the token is in the log');
  });

  test('a second token header must be right too', async () => {
    const host = await startHost(config, {env: hostEnv()});
    try {
      const head = `GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-JS-Host-Token: ${TOKEN}\r\n`;
      assert.equal(await rawStatus(host.port, head), 200);
      assert.equal(await rawStatus(host.port, `${head}X-JS-Host-Token: wrong\r\n`), 401);
    } finally {
      await host.stop();
    }
  });

  test('JS_HOST_TOKEN in the environment wins over the config file', async () => {
    const fromEnv = 'env-token-0123456789abcdef';
    const host = await startHost(config, {env: hostEnv({JS_HOST_TOKEN: fromEnv})});
    try {
      await assertMarkRefused(host, {'X-JS-Host-Token': TOKEN}, 401, 'Unauthorized');
      await assertMarkServed(host, {'X-JS-Host-Token': fromEnv});
    } finally {
      await host.stop();
    }
    assert.ok(!host.output.stdout.includes(fromEnv) && !host.output.stderr.includes(fromEnv));
  });

  test('JS_HOST_TOKEN alone guards a host whose config has none', async () => {
    const fromEnv = 'env-only-token-0123456789';
    const host = await startHost(GUARD_CONFIG, {env: hostEnv({JS_HOST_TOKEN: fromEnv})});
    try {
      await assertMarkRefused(host, {}, 401, 'Unauthorized');
      await assertMarkServed(host, {'X-JS-Host-Token': fromEnv});
    } finally {
      await host.stop();
    }
  });

  test('a token that cannot travel in a header is a config error that does not show it', async () => {
    const bad = path.join(dir, 'bad-token.config.js');
    fs.writeFileSync(bad, "module.exports = {functions: {}, token: 'has a space'};\n");
    const {code, stderr} = await runCli([bad, '--config']);
    assert.equal(code, 1);
    assert.match(stderr, /token must be a string of visible ASCII characters without spaces/);
    assert.ok(!stderr.includes('has a space'));
  });
});

describe('a host on a Unix socket', () => {
  let host;
  let socketDir;
  before(async () => {
    socketDir = makeTempDir();
    host = await startHost(GUARD_CONFIG, {socket: path.join(socketDir, 'host.sock')});
  });
  after(async () => {
    await host?.stop();
    fs.rmSync(socketDir, {recursive: true, force: true});
  });

  test('has no name to check: any Host is served', async () => {
    await assertMarkServed(host, {Host: 'evil.example'});
    await assertMarkServed(host, {Host: 'localhost'});
  });

  test('still refuses browsers and bodies that are not JSON', async () => {
    await assertMarkRefused(host, {Origin: 'null'}, 403, 'CrossSiteRequest');
    await assertMarkRefused(host, {'Sec-Fetch-Site': 'cross-site'}, 403, 'CrossSiteRequest');
    await assertMarkRefused(host, {'Content-Type': 'text/plain'}, 415, 'UnsupportedMediaType');
  });

  test('and asks for the token when it has one', async () => {
    const token = 'socket-token-0123456789abcdef';
    const guarded = await startHost(GUARD_CONFIG, {socket: path.join(socketDir, 'token.sock'), env: {...process.env, JS_HOST_TOKEN: token}});
    try {
      await assertMarkRefused(guarded, {}, 401, 'Unauthorized');
      await assertMarkServed(guarded, {'X-JS-Host-Token': token});
    } finally {
      await guarded.stop();
    }
  });
});
