'use strict';
// What the manager answers to requests it cannot serve: bad paths, methods, bodies and
// config paths, unknown hosts, and a config that does not load. It keeps answering after.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {after, before, beforeEach, describe, test} = require('node:test');

const {fixture} = require('./helpers');
const {assertGone, childPids, makeRunDir, startManager} = require('./manager-helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');

let runDir;
let manager;
before(async () => {
  runDir = makeRunDir();
  manager = await startManager(runDir);
});
after(async () => {
  await manager?.stop();
  runDir?.remove();
});

function assertRefused(res, status, name, pattern) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['content-length'], String(res.body.length));
  const body = res.json();
  assert.equal(body.name, name);
  assert.match(body.message, pattern);
  return body;
}

describe('routing and bodies', () => {
  test('an unknown path is 404 and lists the routes', async () => {
    const res = await manager.post('/host/launch', {config: FUNCTIONS_CONFIG});
    assertRefused(res, 404, 'NotFound', /No such path "\/host\/launch": this manager answers GET \/status, POST \/host\/start/);
  });

  test('a wrong method is 405 with Allow', async () => {
    assert.equal(assertRefused(await manager.get('/host/start'), 405, 'MethodNotAllowed', /Use POST \/host\/start/).name, 'MethodNotAllowed');
    assert.equal((await manager.get('/host/start')).headers.allow, 'POST');
    const res = await manager.post('/status');
    assertRefused(res, 405, 'MethodNotAllowed', /Use GET \/status/);
    assert.equal(res.headers.allow, 'GET');
  });

  test('bad JSON and a body that is not an object are 400', async () => {
    assertRefused(await manager.post('/host/start', '{"config": '), 400, 'InvalidJSON', /not valid UTF-8 JSON/);
    assertRefused(await manager.post('/host/start', '[1, 2]'), 400, 'InvalidRequest', /must be a JSON object, got an array/);
  });

  test('a body over 64 KB is 413', async () => {
    const res = await manager.post('/host/start', {config: FUNCTIONS_CONFIG, padding: 'x'.repeat(70 * 1024)});
    assertRefused(res, 413, 'RequestTooLarge', /over the manager's limit of 65536 bytes/);
  });
});

describe('config paths', () => {
  for (const route of ['/host/start', '/host/connect', '/host/stop', '/host/restart', '/host/status', '/host/disconnect']) {
    test(`${route}: missing, not a string, relative, missing file, directory`, async () => {
      const extra = {owner: process.pid, connection: 'c'};
      const missing = path.join(runDir.dir, 'missing.config.js');
      for (const [body, pattern] of [
        [{...extra}, /"config" is missing: name the host by the absolute path of its config file/],
        [{...extra, config: 42}, /"config" must be a string \(an absolute path\), got a number/],
        [{...extra, config: 'host.config.js'}, /"config" must be an absolute path, got "host\.config\.js"/],
        [{...extra, config: missing}, new RegExp(`config file ${missing} does not exist`)],
        [{...extra, config: runDir.dir}, new RegExp(`config ${runDir.dir} is not a regular file \\(a directory\\)`)],
      ]) {
        assertRefused(await manager.post(route, body), 400, 'InvalidConfigPath', pattern);
      }
    });
  }

  test('a valid config without a host is 404 UnknownHost for stop, restart, status and disconnect', async () => {
    for (const route of ['/host/stop', '/host/restart', '/host/status', '/host/disconnect']) {
      const res = await manager.post(route, {config: FUNCTIONS_CONFIG, connection: 'c'});
      assertRefused(res, 404, 'UnknownHost', new RegExp(`No host for config ${fs.realpathSync(FUNCTIONS_CONFIG)}`));
    }
  });

  test('other fields: owner, connection, sourceRoot, restartOnChange, disconnectTimeout', async () => {
    const connect = {config: FUNCTIONS_CONFIG, owner: process.pid, connection: 'c'};
    for (const [body, pattern] of [
      [{...connect, owner: undefined}, /"owner" must be the process id of the connecting process \(a positive integer\), got nothing/],
      [{...connect, owner: '12'}, /"owner" must be .*, got "12"/],
      [{...connect, owner: 1.5}, /"owner" must be .*, got 1\.5/],
      [{...connect, connection: ''}, /"connection" must be a non-empty string/],
      [{...connect, sourceRoot: 'src'}, /"sourceRoot" must be an absolute path, got "src"/],
      [{...connect, sourceRoot: FUNCTIONS_CONFIG}, /sourceRoot .* is not a directory/],
      [{...connect, sourceRoot: path.join(runDir.dir, 'nowhere')}, /sourceRoot .*nowhere does not exist/],
      [{...connect, restartOnChange: 'yes'}, /"restartOnChange" must be true or false, got "yes"/],
      [{...connect, disconnectTimeout: -1}, /"disconnectTimeout" must be a number of milliseconds from 0 to 2147483647, got -1/],
    ]) {
      assertRefused(await manager.post('/host/connect', body), 400, 'InvalidRequest', pattern);
    }
  });

  test('the manager still answers, and started nothing', async () => {
    const res = await manager.get('/status');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json().hosts, []);
  });
});

// Each test ends with the manager exiting along with its last host: each gets its own.
describe('a config that does not load', () => {
  beforeEach(async () => {
    await manager.stop();
    manager = await startManager(runDir);
  });

  test('500 ConfigDoesNotLoad with the SyntaxError as the host said it, its logfile, and no host process left', async () => {
    const config = path.join(runDir.dir, 'syntax.config.js');
    fs.writeFileSync(config, 'module.exports = {\n  functions: {\n    a: 1\n    b: 2\n  }\n};\n');
    const res = await manager.post('/host/connect', {config, owner: process.pid, connection: 'c', disconnectTimeout: 60000});
    const body = assertRefused(res, 500, 'ConfigDoesNotLoad', new RegExp(`^js-host: cannot load config file ${config}: SyntaxError: Unexpected identifier`));
    assert.ok(body.message.includes(`${config}:4\n`), body.message);
    assert.match(body.logfile, /host-syntax\.config-[0-9a-f]{10}\.log$/);
    assert.match(fs.readFileSync(body.logfile, 'utf8'), /SyntaxError: Unexpected identifier/);

    const info = (await manager.post('/host/status', {config})).json();
    assert.equal(info.state, 'exited');
    assert.deepEqual(info.exit, {code: 1, signal: null});
    assert.equal(info.connections, 0, 'a failed connect registers no connection');
    assert.deepEqual(info.startError, {name: 'ConfigDoesNotLoad', message: body.message}, 'kept for whoever asks next');
    const children = childPids(manager.child.pid);
    if (children) assert.deepEqual(children, []);
    if (info.pid) await assertGone(info.pid);
    assert.match(manager.output.stderr, /host failed to start: .*syntax\.config\.js \(connect request; logfile .*\)\n.*SyntaxError/);

    // Fixed, it starts on the next request.
    fs.writeFileSync(config, 'module.exports = {functions: {}};\n');
    const fixed = await manager.post('/host/start', {config});
    assert.equal(fixed.status, 200, fixed.text);
    assert.equal(fixed.json().state, 'running');
    assert.equal(fixed.json().startError, null);
    assert.equal((await manager.post('/host/stop', {config})).status, 200);
    await assertGone(fixed.json().pid);
  });

  test('a config that exits while loading: 500 with what it printed, no process left', async () => {
    const config = path.join(runDir.dir, 'exits.config.js');
    fs.writeFileSync(config, "process.stderr.write('giving up\\n'); process.exit(3);\n");
    const res = await manager.post('/host/start', {config});
    const body = assertRefused(res, 500, 'HostStartFailed', /failed to start: giving up$/);
    assert.ok(body.logfile);
    const info = (await manager.post('/host/status', {config})).json();
    assert.deepEqual(info.exit, {code: 3, signal: null});
    assert.deepEqual(info.startError, {name: 'HostStartFailed', message: body.message}, 'not a config that does not load');
    const children = childPids(manager.child.pid);
    if (children) assert.deepEqual(children, []);
    assert.equal((await manager.get('/status')).status, 200);
  });
});
