'use strict';
// Hosts whose source files changed: reported stale, and with restartOnChange restarted
// (on a connect, or as soon as a file changes), including into a config that no longer loads.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {describe, test} = require('node:test');

const {copyModuleProject, request} = require('./helpers');
const {assertGone, waitForHost, withManager} = require('./manager-helpers');

// A project whose config requires a helper, which is the file the tests edit.
function makeProject(dir) {
  const config = path.join(dir, 'host.config.js');
  const helper = path.join(dir, 'greeting.js');
  fs.writeFileSync(config, "const greeting = require('./greeting');\nmodule.exports = {functions: {greet(data, cb) { cb(null, greeting); }}};\n");
  fs.writeFileSync(helper, "module.exports = 'Hello';\n");
  return {config, helper};
}

async function greet(info) {
  const res = await request(info.socket, {path: '/function/greet', body: '{}'});
  assert.equal(res.status, 200, res.text);
  return res.text;
}

// Each test gets a manager (withManager: stopped afterwards, every host pid it reported
// checked gone) and a project in the manager's private directory: makeProject's, or
// makeFiles(dir)'s.
function withProject(body, makeFiles = makeProject) {
  return withManager(async (manager, runDir) => {
    const project = makeFiles(runDir.dir);
    const connect = async (options = {}) => {
      const res = await manager.post('/host/connect', {config: project.config, owner: process.pid, connection: 'c', ...options});
      assert.equal(res.status, 200, res.text);
      return res.json();
    };
    const waitFor = (predicate, what) => waitForHost(manager, project.config, predicate, what);
    await body({manager, ...project, connect, waitFor});
  });
}

describe('stale hosts', () => {
  test('a changed required file makes the host stale; without restartOnChange it keeps running', () =>
    withProject(async ({manager, config, helper, connect}) => {
      const info = await connect();
      assert.deepEqual(info.status.config.sourceFiles, [helper, config]);
      assert.equal(info.stale, false);
      fs.writeFileSync(helper, "module.exports = 'Howdy';\n");
      const stale = (await manager.post('/host/status', {config})).json();
      assert.equal(stale.stale, true);
      assert.equal(stale.pid, info.pid);
      const reconnected = await connect();
      assert.equal(reconnected.pid, info.pid, 'no restart without restartOnChange');
      assert.equal(await greet(info), 'Hello', 'still the old code');

      const restarted = (await manager.post('/host/restart', {config})).json();
      assert.equal(restarted.stale, false);
      assert.equal(await greet(restarted), 'Howdy');
    }));

  test('with restartOnChange, a connect restarts a stale host before answering', () =>
    withProject(async ({manager, helper, connect}) => {
      const info = await connect();
      fs.writeFileSync(helper, "module.exports = 'Howdy';\n");
      const fresh = await connect({restartOnChange: true});
      assert.notEqual(fresh.pid, info.pid);
      assert.equal(fresh.socket, info.socket);
      assert.equal(fresh.stale, false);
      assert.equal(fresh.started, true);
      assert.equal(fresh.restarts, 1);
      assert.equal(await greet(fresh), 'Howdy');
      assert.match(manager.output.stdout, /host restarting: .* \(connect request: its source files changed since it started\)\n/);
    }));
});

describe('restartOnChange', () => {
  test('a change to a source file restarts the host on its socket; the new code answers', () =>
    withProject(async ({manager, helper, connect, waitFor}) => {
      const info = await connect({restartOnChange: true});
      fs.writeFileSync(helper, "module.exports = 'Howdy';\n");
      const restarted = await waitFor((host) => host.pid !== info.pid && host.state === 'running', 'a restart');
      assert.equal(restarted.socket, info.socket);
      assert.equal(restarted.logfile, info.logfile);
      assert.equal(restarted.connections, 1);
      assert.equal(await greet(restarted), 'Howdy');
      await assertGone(info.pid);
      assert.match(manager.output.stdout, new RegExp(`host restarting: .* \\(files changed: ${helper}\\)\\n`));
    }));

  test('an editor-style save (write elsewhere, rename over) restarts it too; an unchanged save does not', () =>
    withProject(async ({manager, config, helper, connect, waitFor}) => {
      const info = await connect({restartOnChange: true});
      fs.writeFileSync(helper, fs.readFileSync(helper));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await manager.post('/host/status', {config})).json().pid, info.pid, 'same bytes: no restart');

      const saved = `${helper}.tmp`;
      fs.writeFileSync(saved, "module.exports = 'Hi';\n");
      fs.renameSync(saved, helper);
      const first = await waitFor((host) => host.pid !== info.pid && host.state === 'running', 'the first restart');
      assert.equal(await greet(first), 'Hi');
      // Watching still works after the file was replaced.
      fs.writeFileSync(saved, "module.exports = 'Hey';\n");
      fs.renameSync(saved, helper);
      const second = await waitFor((host) => host.pid !== first.pid && host.state === 'running', 'the second restart');
      assert.equal(await greet(second), 'Hey');
    }));

  test('a change that breaks the config leaves the host exited, and fixing it starts it again', () =>
    withProject(async ({manager, config, helper, connect, waitFor}) => {
      const info = await connect({restartOnChange: true});
      fs.writeFileSync(helper, "module.exports = 'unterminated;\n");
      const broken = await waitFor((host) => host.state === 'exited', 'the failed restart');
      assert.deepEqual(broken.exit, {code: 1, signal: null});
      assert.equal(broken.connections, 1);
      assert.equal(broken.startError.name, 'ConfigDoesNotLoad');
      assert.match(broken.startError.message, new RegExp(`${helper}:1\n`), 'the JS error names file and line');
      assert.match(manager.output.stderr, /host failed to start: .*host\.config\.js \(files changed: .*greeting\.js; logfile .*\)\n.*SyntaxError/);
      assert.match(fs.readFileSync(info.logfile, 'utf8'), /SyntaxError: Invalid or unexpected token/);
      assert.equal((await manager.get('/status')).status, 200, 'the manager is fine');

      fs.writeFileSync(helper, "module.exports = 'Fixed';\n");
      const fixed = await waitFor((host) => host.state === 'running' && host.pid !== info.pid, 'the fixed start');
      assert.equal(fixed.socket, info.socket);
      assert.equal(fixed.startError, null);
      assert.equal(await greet(fixed), 'Fixed');
      assert.equal((await manager.post('/host/status', {config})).json().stale, false);
    }));
});

describe('ES modules, and files loaded after the start', () => {
  // The module project (tests/fixtures/module-project), served from `configName`.
  const moduleProject = (configName) => (dir) => {
    const root = copyModuleProject(path.join(dir, 'project'));
    return {root, config: path.join(root, configName)};
  };

  async function call(info, name, kwargs) {
    const res = await request(info.socket, {path: `/function/${name}`, body: JSON.stringify(kwargs)});
    assert.equal(res.status, 200, res.text);
    return res.text;
  }

  test('editing a module that an ES module config imports through another restarts the host', () =>
    withProject(async ({manager, root, connect, waitFor}) => {
      const info = await connect({restartOnChange: true});
      assert.equal(await call(info, 'shout', {text: 'hi'}), 'HI!');
      const punctuation = path.join(root, 'lib', 'punctuation.mjs');
      fs.writeFileSync(punctuation, "export const EXCLAMATION = '?!';\n");
      const restarted = await waitFor((host) => host.pid !== info.pid && host.state === 'running', 'a restart');
      assert.equal(await call(restarted, 'shout', {text: 'hi'}), 'HI?!');
      assert.match(manager.output.stdout, new RegExp(`host restarting: .* \\(files changed: ${punctuation}\\)\\n`));
    }, moduleProject('host.config.js')));

  test('a module a function import()s at its first call is watched from then on', () =>
    withProject(async ({root, connect, waitFor}) => {
      const lazy = path.join(root, 'lib', 'lazy.mjs');
      const info = await connect({restartOnChange: true});
      assert.ok(!info.status.config.sourceFiles.includes(lazy), 'not loaded yet');
      assert.equal(await call(info, 'lazy_import', {text: 'x'}), 'lazy: x');
      await waitFor((host) => host.status.config.sourceFiles.includes(lazy), 'the host to report it');
      fs.writeFileSync(lazy, 'export const describe = (text) => `edited: ${text}`;\n');
      const restarted = await waitFor((host) => host.pid !== info.pid && host.state === 'running', 'a restart');
      assert.equal(await call(restarted, 'lazy_import', {text: 'x'}), 'edited: x');
    }, moduleProject('host.config.js')));

  test('a file a function require()s at its first call makes the host stale once it changes', () =>
    withProject(async ({manager, config, root, connect, waitFor}) => {
      const lazy = path.join(root, 'lib', 'lazy.cjs');
      const info = await connect();
      assert.equal(await call(info, 'lazy_require', {text: 'x'}), 'lazy: x');
      const reported = await waitFor((host) => host.status.config.sourceFiles.includes(lazy), 'the host to report it');
      assert.equal(reported.stale, false);
      fs.writeFileSync(lazy, 'module.exports = (text) => `edited: ${text}`;\n');
      const stale = (await manager.post('/host/status', {config})).json();
      assert.equal(stale.stale, true);
      assert.equal(stale.pid, info.pid, 'no restart without restartOnChange');
      assert.equal(await call(info, 'lazy_require', {text: 'x'}), 'lazy: x', 'still the old code');
    }, moduleProject('host.config.cjs')));
});
