'use strict';
// The js-host command line: flags, --config, start-up output and every start-up failure.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {fixture, makeTempDir, runCli, sha1, startHost, waitFor} = require('./helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');
const {version} = require('../../django_js_host/js/package.json');

describe('js-host flags', () => {
  test('--version prints the package version', async () => {
    const {code, stdout} = await runCli(['--version']);
    assert.equal(code, 0);
    assert.equal(stdout, `${version}\n`);
  });

  test('--help prints the usage', async () => {
    const {code, stdout} = await runCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: js-host CONFIG/);
    assert.match(stdout, /--logfile F/);
    assert.match(stdout, /--socket PATH  listen on the Unix socket PATH instead of TCP/);
    assert.match(stdout, /X-JS-Host-Token header/);
  });

  test('an unknown flag is a usage error', async () => {
    const {code, stdout, stderr} = await runCli([FUNCTIONS_CONFIG, '--prot', '1']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /--prot/);
    assert.match(stderr, /Usage: js-host CONFIG/);
  });

  test('a missing CONFIG is a usage error', async () => {
    const {code, stderr} = await runCli(['--json']);
    assert.equal(code, 2);
    assert.match(stderr, /missing CONFIG path/);
    assert.match(stderr, /Usage: js-host CONFIG/);
  });

  test('a bad --port is a usage error', async () => {
    const {code, stderr} = await runCli([FUNCTIONS_CONFIG, '--port', '70000']);
    assert.equal(code, 2);
    assert.match(stderr, /--port must be a port number from 0 to 65535, got "70000"/);
  });
});

describe('js-host --config', () => {
  test('prints the status the host would report and exits 0', async () => {
    const {code, stdout, stderr} = await runCli([FUNCTIONS_CONFIG, '--config']);
    assert.equal(code, 0, stderr);
    const lines = stdout.split('\n');
    assert.equal(lines.length, 2, 'one line, newline-terminated');
    const status = JSON.parse(lines[0]);
    assert.equal(status.type, 'Host');
    assert.equal(status.version, version);
    assert.deepEqual(status.config.address, '127.0.0.1');
    assert.equal(status.config.port, 9009);
    assert.equal(status.config.requestDataLimit, 10 * 1024 * 1024);
    assert.equal(status.config.configFile, fs.realpathSync(FUNCTIONS_CONFIG));
    assert.equal(status.config.configHash, sha1(fs.readFileSync(FUNCTIONS_CONFIG)));
    assert.ok(status.config.functions.includes('hello_world'));
  });

  test('keeps stdout to the status line: what the config prints goes to stderr', async () => {
    const {code, stdout, stderr} = await runCli([fixture('chatty.config.js'), '--config']);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout).config.functions, ['shout']);
    assert.equal(stderr, 'chatty config: loading\n');
  });

  test('takes --port and --address over the config file, and a relative CONFIG', async () => {
    const {code, stdout} = await runCli(['small-limit.config.js', '--config', '--port', '1234', '--address', '0.0.0.0'], {
      cwd: path.dirname(FUNCTIONS_CONFIG),
    });
    assert.equal(code, 0);
    const {config} = JSON.parse(stdout);
    assert.equal(config.port, 1234);
    assert.equal(config.address, '0.0.0.0');
    assert.equal(config.requestDataLimit, 64 * 1024);
    assert.equal(config.configFile, fs.realpathSync(fixture('small-limit.config.js')));
  });
});

describe('bad config files', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  // Writes `source` as a config file and runs `js-host FILE --config`.
  async function checkConfig(fileName, source) {
    const file = path.join(dir, fileName);
    fs.writeFileSync(file, source);
    return {file, ...(await runCli([file, '--config']))};
  }

  function assertFails({code, stdout, stderr, file}, pattern) {
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.ok(stderr.startsWith(`js-host: cannot load config file ${file}: `), stderr);
    assert.match(stderr, pattern);
  }

  test('a missing file', async () => {
    const file = path.join(dir, 'missing.config.js');
    const result = await runCli([file, '--config']);
    assertFails({...result, file}, /ENOENT/);
  });

  test('a syntax error shows what node says, with file:line', async () => {
    const result = await checkConfig('syntax.config.js', 'module.exports = {\n  functions: {\n    a: 1\n    b: 2\n  }\n};\n');
    assertFails(result, /SyntaxError: Unexpected identifier/);
    assert.ok(result.stderr.includes(`${result.file}:4\n`), result.stderr);
  });

  test('a config that throws at load shows the error and its stack', async () => {
    const result = await checkConfig('throws.config.js', "'use strict';\nthrow new Error('config exploded');\n");
    assertFails(result, /Error: config exploded\n\s+at .*throws\.config\.js:2/);
  });

  test('module.exports not an object', async () => {
    const result = await checkConfig('number.config.js', 'module.exports = 42;\n');
    assertFails(result, /module\.exports must be an object .* got a number/);
  });

  test('functions missing: a host with none, as js-host 0.12 allowed', async () => {
    const result = await checkConfig('no-functions.config.js', 'module.exports = {port: 9009};\n');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).config.functions, []);
  });

  test('functions null or not an object', async () => {
    const result = await checkConfig('null-functions.config.js', 'module.exports = {functions: null};\n');
    assertFails(result, /"functions" must be an object of functions, .* got null/);
  });

  test('functions that are not functions', async () => {
    const result = await checkConfig('not-functions.config.js', "module.exports = {functions: {ok() {}, bad: 'text'}};\n");
    assertFails(result, /functions\["bad"\] must be a function, got a string/);
  });

  test('a function name that cannot be called over HTTP', async () => {
    const result = await checkConfig('bad-name.config.js', "module.exports = {functions: {'a b'() {}}};\n");
    assertFails(result, /function name "a b" cannot be called over HTTP/);
  });

  test('a bad port', async () => {
    const result = await checkConfig('bad-port.config.js', "module.exports = {functions: {}, port: 'http'};\n");
    assertFails(result, /port must be a port number from 0 to 65535, got "http"/);
  });

  test('a bad socket', async () => {
    const result = await checkConfig('bad-socket.config.js', "module.exports = {functions: {}, socket: 9009};\n");
    assertFails(result, /socket must be the path of a Unix socket \(or null for TCP\), got 9009/);
  });

  test('bad allowedHosts', async () => {
    for (const [value, pattern] of [
      ["'localhost'", /allowedHosts must be an array of host names, got a string/],
      ["['ok.example', 7]", /allowedHosts\[1\] must be a host name or IP address, got a number/],
      ["['proxy.example:8080']", /allowedHosts\[0\] must be a host name or IP address without a port .* got "proxy\.example:8080"/],
      ["['*']", /allowedHosts\[0\] must be a host name/],
    ]) {
      const result = await checkConfig(`hosts-${value.length}.config.js`, `module.exports = {functions: {}, allowedHosts: ${value}};\n`);
      assertFails(result, pattern);
    }
  });

  test('a bad requestDataLimit', async () => {
    const result = await checkConfig('bad-limit.config.js', "module.exports = {functions: {}, requestDataLimit: '10 parsecs'};\n");
    assertFails(result, /requestDataLimit must be a number of bytes or a size like/);
  });

  test('a good limit as a size string', async () => {
    const file = path.join(dir, 'limit.config.js');
    fs.writeFileSync(file, "module.exports = {functions: {}, requestDataLimit: '1.5MB'};\n");
    const {code, stdout} = await runCli([file, '--config']);
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout).config.requestDataLimit, 1.5 * 1024 * 1024);
  });

  test('a bad config also fails a normal start', async () => {
    const result = await checkConfig('number-again.config.js', 'module.exports = 42;\n');
    const started = await runCli([result.file, '--port', '0', '--json']);
    assertFails({...started, file: result.file}, /module\.exports must be an object/);
  });
});

describe('starting a host', () => {
  test('--json prints the status with the real port first; /status agrees', async () => {
    const host = await startHost(FUNCTIONS_CONFIG);
    try {
      assert.ok(host.port > 0);
      assert.equal(host.status.pid, host.child.pid);
      const res = await host.request({method: 'GET', path: '/status'});
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.deepEqual(res.json(), host.status);
    } finally {
      await host.stop();
    }
  });

  test('plain mode prints "Host listening at address:port"', async () => {
    const host = await startHost(FUNCTIONS_CONFIG, {json: false, env: {...process.env, NODE_ENV: 'production'}});
    try {
      assert.match(host.firstLine, /^Host listening at 127\.0\.0\.1:\d+$/);
      const res = await host.call('hello_world', {name: 'plain'});
      assert.equal(res.text, 'Hello, plain!');
      const status = await host.request({method: 'GET', path: '/status'});
      assert.equal(status.json().nodeEnv, 'production');
    } finally {
      await host.stop();
    }
  });

  test('started without NODE_ENV, its first line says that libraries run in development mode', async () => {
    const {NODE_ENV: _unset, ...env} = process.env;
    const host = await startHost(FUNCTIONS_CONFIG, {json: false, env});
    try {
      assert.match(
        host.firstLine,
        /^Host listening at 127\.0\.0\.1:\d+ \(NODE_ENV is not set: React and other libraries run their slower development builds; set NODE_ENV=production in production\)$/,
      );
      const status = await host.request({method: 'GET', path: '/status'});
      assert.equal(status.json().nodeEnv, null);
    } finally {
      await host.stop();
    }
  });

  test('what a config prints while loading comes after the --json status line', async () => {
    const host = await startHost(fixture('chatty.config.js'));
    try {
      assert.equal(host.status.type, 'Host');
      await waitFor(() => host.output.stdout.includes('chatty config: loading\n'), {what: 'the held output'});
    } finally {
      await host.stop();
    }
  });

  test('a port in use fails with a message naming address and port', async () => {
    const host = await startHost(FUNCTIONS_CONFIG);
    try {
      const {code, stderr} = await runCli([FUNCTIONS_CONFIG, '--port', String(host.port)]);
      assert.equal(code, 1);
      assert.equal(stderr, `js-host: cannot listen on 127.0.0.1:${host.port}: address already in use (EADDRINUSE)\n`);
    } finally {
      await host.stop();
    }
  });

  test('a logfile that cannot be opened fails the start', async () => {
    const logfile = path.join(makeTempDir(), 'no-such-dir', 'host.log');
    const {code, stderr} = await runCli([FUNCTIONS_CONFIG, '--port', '0', '--logfile', logfile]);
    fs.rmSync(path.dirname(path.dirname(logfile)), {recursive: true, force: true});
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`cannot open logfile ${logfile}: ENOENT`));
  });
});
