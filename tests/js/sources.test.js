'use strict';
// The source files a host reports (every file its config loaded, outside node_modules) and
// their hash, which Python recomputes to tell a stale host.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {sourceHash} = require('../../django_js_host/js/lib/protocol');
const {copyModuleProject, makeTempDir, runCli, sha1, startHost} = require('./helpers');

// The recipe, written out again the way Python does it, over the paths in the order given.
function expectedSourceHash(paths) {
  const lines = paths.map((file) => {
    let digest = 'missing';
    if (fs.existsSync(file)) digest = sha1(fs.readFileSync(file));
    return `${file}\0${digest}\n`;
  });
  return sha1(lines.join(''));
}

describe('sourceFiles and sourceHash', () => {
  let dir;
  let config;
  let helper;
  before(() => {
    dir = makeTempDir();
    helper = path.join(dir, 'lib', 'greeting.js');
    const installed = path.join(dir, 'node_modules', 'shout', 'index.js');
    fs.mkdirSync(path.dirname(helper));
    fs.mkdirSync(path.dirname(installed), {recursive: true});
    fs.writeFileSync(helper, "module.exports = (name) => `Hello, ${name}!`;\n");
    fs.writeFileSync(installed, 'module.exports = (text) => text.toUpperCase();\n');
    config = path.join(dir, 'host.config.js');
    fs.writeFileSync(
      config,
      "const greeting = require('./lib/greeting');\nconst shout = require('shout');\n" +
        'module.exports = {functions: {greet(data, cb) { cb(null, shout(greeting(data.name))); }}};\n',
    );
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  test('list the config and the local files it requires, not node_modules, sorted', async () => {
    const {code, stdout, stderr} = await runCli([config, '--config']);
    assert.equal(code, 0, stderr);
    const {sourceFiles, sourceHash: reported} = JSON.parse(stdout).config;
    assert.deepEqual(sourceFiles, [config, helper]);
    assert.equal(reported, expectedSourceHash([config, helper]));
  });

  test('are in the running host status too, with the hash of the files as loaded', async () => {
    const host = await startHost(config, {cwd: dir});
    try {
      assert.deepEqual(host.status.config.sourceFiles, [config, helper]);
      assert.equal(host.status.config.sourceHash, sourceHash([config, helper]));
      assert.equal((await host.call('greet', {name: 'you'})).text, 'HELLO, YOU!');
    } finally {
      await host.stop();
    }
  });

  test('sourceHash() follows the recipe, in the order given, and marks unreadable files', () => {
    const missing = path.join(dir, 'gone.js');
    assert.equal(sourceHash([config, helper, missing]), expectedSourceHash([config, helper, missing]));
    assert.equal(sourceHash([helper, config]), expectedSourceHash([helper, config]));
    assert.notEqual(sourceHash([helper, config]), sourceHash([config, helper]));
    assert.equal(sourceHash([missing]), sha1(`${missing}\0missing\n`));
    assert.equal(sourceHash([]), sha1(''));
  });

  test('sourceHash() changes when a required file changes', () => {
    const before = sourceHash([config, helper]);
    const original = fs.readFileSync(helper);
    fs.writeFileSync(helper, "module.exports = (name) => `Hi, ${name}!`;\n");
    try {
      assert.notEqual(sourceHash([config, helper]), before);
    } finally {
      fs.writeFileSync(helper, original);
    }
    assert.equal(sourceHash([config, helper]), before);
  });
});

describe('files loaded after the start', () => {
  let dir;
  before(() => {
    dir = copyModuleProject();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  // GET /status once it lists `file` (a lazy import() is heard of a moment after it resolved).
  async function statusListing(host, file) {
    const deadline = Date.now() + 3000;
    for (;;) {
      const status = (await host.request({method: 'GET', path: '/status'})).json();
      if (status.config.sourceFiles.includes(file) || Date.now() > deadline) return status;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  for (const [configName, name, lazyName] of [
    ['host.config.js', 'lazy_import', 'lazy.mjs'],
    ['host.config.cjs', 'lazy_require', 'lazy.cjs'],
  ]) {
    test(`a file a function loads at its first call (${name}) is a source from then on, hashed as loaded`, async () => {
      const lazy = path.join(dir, 'lib', lazyName);
      const host = await startHost(path.join(dir, configName), {cwd: dir});
      try {
        assert.ok(!host.status.config.sourceFiles.includes(lazy));
        assert.equal((await host.call(name, {text: 'x'})).text, 'lazy: x');
        const {config} = await statusListing(host, lazy);
        assert.ok(config.sourceFiles.includes(lazy), JSON.stringify(config.sourceFiles));
        assert.equal(config.sourceHash, expectedSourceHash(config.sourceFiles));
        fs.writeFileSync(lazy, `${fs.readFileSync(lazy, 'utf8')}// edited\n`);
        const edited = (await host.request({method: 'GET', path: '/status'})).json().config;
        assert.equal(edited.sourceHash, config.sourceHash, 'the hash of the files as loaded');
        assert.notEqual(expectedSourceHash(edited.sourceFiles), edited.sourceHash, 'so Python sees it stale');
      } finally {
        await host.stop();
      }
    });
  }
});
