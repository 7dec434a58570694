'use strict';
// Runs a config file as Node runs a file of its name: `.cjs` and `.cts` as CommonJS, `.mjs`
// and `.mts` as an ES module, `.js` and `.ts` as the nearest package.json's "type" says
// (CommonJS without one). CommonJS is loaded with require(), as it always was; an ES module
// with import(), which also waits for its top-level await. TypeScript needs a Node that
// strips types. A file that fails to load is reported with Node's error, file and line.

const {spawnSync} = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const {pathToFileURL} = require('node:url');
const {types} = require('node:util');

const {ConfigError, describeType} = require('./config-error');

const FORMAT_OF_EXTENSION = {'.cjs': 'commonjs', '.cts': 'commonjs', '.mjs': 'module', '.mts': 'module'};
const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);
// How long `node --check` may take over one file (see locateSyntaxError).
const CHECK_TIMEOUT = 10 * 1000;
// What an older Node (< 20.19, 22.12) says of ES module syntax in a file it runs as CommonJS.
const ES_SYNTAX_IN_COMMONJS = /Cannot use import statement outside a module|Unexpected token 'export'/;

// The package.json that decides how a `.js` or `.ts` file runs, found as Node finds it (the
// nearest one above the file, not past a node_modules directory), and its "type".
function packageScope(file) {
  for (let dir = path.dirname(file); path.basename(dir) !== 'node_modules'; dir = path.dirname(dir)) {
    const packageJson = path.join(dir, 'package.json');
    if (fs.existsSync(packageJson)) return {packageJson, type: readPackageType(packageJson, file)};
    if (path.dirname(dir) === dir) break;
  }
  return {packageJson: null, type: undefined};
}

function readPackageType(packageJson, file) {
  try {
    return JSON.parse(fs.readFileSync(packageJson, 'utf8')).type;
  } catch (err) {
    throw new ConfigError(`cannot read ${packageJson}, whose "type" says how Node runs ${path.basename(file)}: ${err.message}`);
  }
}

// Node's name for the format: 'commonjs' or 'module', '-typescript' added for TypeScript.
function configFormat(file) {
  const extension = path.extname(file);
  const format = FORMAT_OF_EXTENSION[extension] ?? (packageScope(file).type === 'module' ? 'module' : 'commonjs');
  return TYPESCRIPT.has(extension) ? `${format}-typescript` : format;
}

function checkTypeScriptSupport(file) {
  if (process.features.typescript) return;
  throw new ConfigError(
    `${path.basename(file)} is TypeScript, and Node ${process.version} (${process.execPath}) does not strip types: ` +
      'Node does by default from 22.18 and 23.6. Run the host with such a Node (`pip install "django-js-host[node]"` ' +
      "brings one; JS_HOST['PATH_TO_NODE'] names the node to run), or write the config in JavaScript.",
  );
}

// Resolves with {exported (the config object), exportedAs (its name in messages), format}.
// `sources`: the process's source tracker (sources.js), which helps to locate a syntax error.
async function runConfigFile(file, sources) {
  let format = configFormat(file);
  if (format.endsWith('-typescript')) checkTypeScriptSupport(file);
  let exports;
  try {
    exports = format.startsWith('module') ? await importUntilSettled(file, sources) : await requireOrImport(file, sources);
  } catch (err) {
    throw new ConfigError(await describeLoadError(err, file, format, sources));
  }
  // ES module syntax in a file of no declared type: Node runs it as an ES module too.
  if (types.isModuleNamespaceObject(exports)) format = format.replace('commonjs', 'module');
  return {...configOf(exports, file), format};
}

async function requireOrImport(file, sources) {
  try {
    return require(file);
  } catch (err) {
    // Node took the file for an ES module (ES syntax, no "type") and require() cannot wait
    // for its top-level await. (A CommonJS config that require()s such a module fails again.)
    if (err?.code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    return importUntilSettled(file, sources);
  }
}

// import() of the file, rejected if its top-level await can never settle: Node would
// otherwise exit quietly once nothing is left to run.
function importUntilSettled(file, sources) {
  sources.followImports();
  return new Promise((resolve, reject) => {
    const stuck = () => reject(new ConfigError('its top-level await never settled: it waits for a promise that nothing is left to settle'));
    process.once('beforeExit', stuck);
    import(pathToFileURL(file).href)
      .then(resolve, reject)
      .finally(() => process.off('beforeExit', stuck));
  });
}

// An ES module's config is its default export, as a CommonJS one's is module.exports;
// without a default export, its named exports are (`export const functions = {...}`). So
// the default export wins over a named `functions`, and one without functions beside a named
// `functions` is an error rather than a host that quietly has none. CommonJS compiled from
// an ES module (exports.__esModule, from tsc or a bundler) reads the same.
function configOf(exports, file) {
  if (!types.isModuleNamespaceObject(exports) && !exports?.__esModule) return {exported: exports, exportedAs: 'module.exports'};
  if (!('default' in exports)) return {exported: exports, exportedAs: "the module's exports"};
  const config = exports.default;
  if (exports.functions !== undefined && config?.functions === undefined) {
    throw new ConfigError(
      `${path.basename(file)} exports a named "functions" beside a default export without functions: the default ` +
        'export is the config, so put them in it (export default {functions}), or export no default',
    );
  }
  return {exported: config, exportedAs: 'the default export'};
}

// Node's error with its stack, which for a syntax error in CommonJS starts with the file,
// line, source line and a caret.
async function describeLoadError(err, file, format, sources) {
  if (err instanceof ConfigError) return err.message;
  if (!(err instanceof Error || types.isNativeError(err))) return `${describeType(err)} was thrown: ${String(err)}`;
  const headline = `${err.name}: ${err.message}`;
  const stack = String(err.stack || '');
  if (isUnlocatedSyntaxError(err, headline, stack)) {
    const located = await locateSyntaxError(file, sources);
    if (located) return `${headline}\n${located}`;
  }
  let text = stack.startsWith(headline) ? stack : `${headline}\n${stack}`;
  if (format.startsWith('commonjs') && ES_SYNTAX_IN_COMMONJS.test(err.message)) {
    const {packageJson} = packageScope(file);
    text += `\n${path.basename(file)} runs as CommonJS: to write it as an ES module, add "type": "module" to ${packageJson ?? 'a package.json beside it'}, or name it .mjs`;
  }
  return text;
}

// A syntax error in an ES module comes with Node's own frames only, where CommonJS gives the
// place (an error thrown by the config's code has its frames in the config).
function isUnlocatedSyntaxError(err, headline, stack) {
  if (err.name !== 'SyntaxError' || !stack.startsWith(headline)) return false;
  const frames = stack.slice(headline.length).split('\n').filter((line) => /^\s+at /.test(line));
  return frames.every((line) => /\(node:|^\s+at node:/.test(line));
}

// `node --check FILE` prints a syntax error as CommonJS stacks start: file, line, the line
// and a caret. The ES modules this load went through are checked newest first: Node compiles
// a module as soon as it has loaded it, so the failing one is the last or nearly.
async function locateSyntaxError(file, sources) {
  await sources.settled();
  for (const candidate of new Set([...sources.esModules().reverse(), file])) {
    const {status, stderr} = spawnSync(process.execPath, ['--check', candidate], {
      encoding: 'utf8',
      timeout: CHECK_TIMEOUT,
      killSignal: 'SIGKILL',
    });
    const said = status !== 0 && /^[\s\S]*?^SyntaxError: .*$/m.exec(stderr ?? '');
    if (said) return said[0];
  }
  return null;
}

module.exports = {runConfigFile};
