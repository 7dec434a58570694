'use strict';
// Config files as their name and package say: CommonJS or an ES module (with top-level
// await, importing ES-only npm packages), TypeScript where Node strips types; and each way
// such a config fails to load, told with its file and line.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {after, before, describe, test} = require('node:test');

const {copyModuleProject, makeTempDir, runCli, startHost} = require('./helpers');

// The project's files as the host reports them (the copy's real paths).
let project;
const file = (name) => path.join(project, name);
before(() => {
  project = copyModuleProject();
});
after(() => fs.rmSync(project, {recursive: true, force: true}));

async function configStatus(config) {
  const {code, stdout, stderr} = await runCli([config, '--config']);
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout).config;
}

async function withHost(config, body) {
  const host = await startHost(config, {cwd: path.dirname(config)});
  try {
    await body(host);
  } finally {
    await host.stop();
  }
}

async function answer(host, name, kwargs) {
  const res = await host.call(name, kwargs);
  assert.equal(res.status, 200, res.text);
  return res.text;
}

describe('a "type": "module" project', () => {
  test('its host.config.js is an ES module: it imports an ES-only npm package and local modules, and awaits at its top level', () =>
    withHost(file('host.config.js'), async (host) => {
      const {config} = host.status;
      assert.equal(config.configFormat, 'module');
      assert.deepEqual(config.functions, ['escape', 'greet', 'greet_back', 'lazy_import', 'shout']);
      assert.equal(await answer(host, 'escape', {text: '<b>&'}), '&lt;b&gt;&amp;');
      assert.equal(await answer(host, 'shout', {text: 'hi'}), 'HI!');
      assert.equal(await answer(host, 'greet', {name: 'Ada'}), 'Hello, Ada!');
      assert.equal(await answer(host, 'greet_back', {name: 'Ada'}), 'Hello back, Ada!');
      // Its sources: what it imported, directly or through another module; not node_modules.
      assert.deepEqual(config.sourceFiles, [file('host.config.js'), file('lib/punctuation.mjs'), file('lib/shout.js')]);
    }));

  test('its host.config.cjs is CommonJS', () =>
    withHost(file('host.config.cjs'), async (host) => {
      assert.equal(host.status.config.configFormat, 'commonjs');
      assert.equal(await answer(host, 'legacy', {text: 'x'}), 'legacy: x');
      assert.deepEqual(host.status.config.sourceFiles, [file('host.config.cjs'), file('lib/legacy.cjs')]);
    }));

  test('host.config.mjs without a default export: its named exports are the config', async () => {
    const config = await configStatus(file('host.config.mjs'));
    assert.equal(config.configFormat, 'module');
    assert.deepEqual(config.functions, ['shout']);
    assert.equal(config.requestDataLimit, 1024 * 1024);
  });

  test('host.config.ts, on a Node that strips types', {skip: !process.features.typescript && `Node ${process.version} does not strip types (tests/test_modules.py runs it with the Node of django-js-host[node])`}, () =>
    withHost(file('host.config.ts'), async (host) => {
      assert.equal(host.status.config.configFormat, 'module-typescript');
      assert.equal(await answer(host, 'shout', {text: 'hi'}), '[HI!]');
      assert.ok(host.status.config.sourceFiles.includes(file('lib/brackets.ts')));
    }));
});

describe('ES module configs', () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(() => fs.rmSync(dir, {recursive: true, force: true}));

  function write(name, text) {
    const written = path.join(dir, name);
    fs.writeFileSync(written, text);
    return written;
  }

  test('the default export wins over a named functions', async () => {
    const config = write('both.config.mjs', 'export const functions = {named() {}};\nexport default {functions: {fromDefault() {}}};\n');
    assert.deepEqual((await configStatus(config)).functions, ['fromDefault']);
  });

  test('CommonJS compiled from an ES module (exports.__esModule) reads its default export', async () => {
    const config = write('compiled.config.js', "exports.__esModule = true;\nexports.default = {functions: {compiled() {}}};\n");
    const status = await configStatus(config);
    assert.deepEqual(status.functions, ['compiled']);
    assert.equal(status.configFormat, 'commonjs');
  });

  test('ES syntax in a .js of no declared type runs as an ES module, as Node runs it', {skip: !process.features.require_module && `Node ${process.version} does not detect ES module syntax`}, async () => {
    const config = write('detected.config.js', 'await Promise.resolve();\nexport default {functions: {detected() {}}};\n');
    const status = await configStatus(config);
    assert.deepEqual(status.functions, ['detected']);
    assert.equal(status.configFormat, 'module');
  });

  function assertFails({code, stdout, stderr}, config, pattern) {
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.ok(stderr.startsWith(`js-host: cannot load config file ${config}: `), stderr);
    assert.match(stderr, pattern);
  }

  test('a syntax error in a module it imports: the file, line, source line and caret, as for CommonJS', async () => {
    const broken = write('broken.mjs', "export const a = 1;\nexport default foo(;\n");
    const config = write('imports-broken.config.mjs', "import x from './broken.mjs';\nexport default {functions: {}};\n");
    const result = await runCli([config, '--config']);
    assertFails(result, config, /SyntaxError: Unexpected token ';'/);
    assert.ok(result.stderr.includes(`${broken}:2\nexport default foo(;\n                   ^\n`), result.stderr);
  });

  test('a syntax error in the config itself, at a normal start too', async () => {
    const config = write('syntax.config.mjs', "export default {\n  functions: {\n    a: 1\n    b: 2\n  }\n};\n");
    const result = await runCli([config, '--port', '0', '--json']);
    assertFails(result, config, /SyntaxError: Unexpected identifier/);
    assert.ok(result.stderr.includes(`${config}:4\n`), result.stderr);
  });

  test('a module that throws as it loads: the error and its stack, with file and line', async () => {
    write('throws.mjs', "export const a = 1;\nthrow new Error('module exploded');\n");
    const config = write('imports-throws.config.mjs', "import './throws.mjs';\nexport default {functions: {}};\n");
    assertFails(await runCli([config, '--config']), config, /Error: module exploded\n\s+at .*throws\.mjs:2/);
  });

  test('a rejected top-level await', async () => {
    const config = write('rejects.config.mjs', "await Promise.reject(new TypeError('setup failed'));\nexport default {functions: {}};\n");
    assertFails(await runCli([config, '--config']), config, /TypeError: setup failed\n\s+at .*rejects\.config\.mjs:1/);
  });

  test('a top-level await that never settles', async () => {
    const config = write('stuck.config.mjs', 'await new Promise(() => {});\nexport default {functions: {}};\n');
    assertFails(await runCli([config, '--config']), config, /its top-level await never settled/);
  });

  test('an import that does not resolve names it and the importing file', async () => {
    const config = write('missing.config.mjs', "import './nowhere.mjs';\nexport default {functions: {}};\n");
    assertFails(await runCli([config, '--config']), config, /ERR_MODULE_NOT_FOUND.*nowhere\.mjs' imported from .*missing\.config\.mjs/);
  });

  test('a named export that is not there: file, line and the import', async () => {
    write('few.mjs', 'export const one = 1;\n');
    const config = write('named.config.mjs', "import {two} from './few.mjs';\nexport default {functions: {}};\n");
    const result = await runCli([config, '--config']);
    assertFails(result, config, /SyntaxError: The requested module '.\/few.mjs' does not provide an export named 'two'/);
    assert.ok(result.stderr.includes(`${config}:1`), result.stderr);
  });

  test('a default export that is not an object is named as such', async () => {
    const config = write('number.config.mjs', 'export default 42;\n');
    assertFails(await runCli([config, '--config']), config, /the default export must be an object .* got a number/);
  });

  test('a named functions beside a default export without functions is an error, not a host with none', async () => {
    const config = write('split.config.mjs', 'export const functions = {a() {}};\nexport default {port: 9010};\n');
    assertFails(await runCli([config, '--config']), config, /exports a named "functions" beside a default export without functions/);
  });

  test('TypeScript on a Node that does not strip types: the Node version and what to do', {skip: process.features.typescript && `Node ${process.version} strips types`}, async () => {
    const config = write('typed.config.ts', 'export default {functions: {}} as const;\n');
    assertFails(
      await runCli([config, '--config']),
      config,
      new RegExp(`typed\\.config\\.ts is TypeScript, and Node ${process.version.replaceAll('.', '\\.')} .* does not strip types: Node does by default from 22\\.18 and 23\\.6.*django-js-host\\[node\\]`),
    );
  });

  test('a package.json that is not JSON is named', async () => {
    const sub = path.join(dir, 'bad-package');
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, 'package.json'), '{"type": module}');
    const config = path.join(sub, 'host.config.js');
    fs.writeFileSync(config, 'export default {functions: {}};\n');
    assertFails(await runCli([config, '--config']), config, new RegExp(`cannot read ${sub}/package.json, whose "type" says how Node runs host.config.js`));
  });
});
