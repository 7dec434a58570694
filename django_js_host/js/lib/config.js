'use strict';
// Loads and checks a host config file. Every way a config can be wrong is reported here,
// once, naming the file, so that `js-host CONFIG --config` doubles as a config check for
// the Python side before it starts anything.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const {sourceFilesLoadedSince, sourceHash} = require('./sources');

const DEFAULTS = {
  address: '127.0.0.1',
  port: 9009,
  requestDataLimit: 10 * 1024 * 1024,
  shutdownGracePeriod: 10000,
};

// Names travel as a raw URL path segment, never percent-decoded, so only characters that
// need no escaping can be called; '.' and '..' would be rewritten by URL normalisers.
const CALLABLE_NAME = /^[A-Za-z0-9_$.-]+$/;

// The units js-host 0.12 accepted for requestDataLimit (it used the `bytes` package).
const BYTE_UNITS = {b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4};
const BYTE_SIZE = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*$/i;

// A problem with a value, as opposed to JS code that failed: no stack is worth showing.
class ConfigError extends Error {}
ConfigError.prototype.name = 'ConfigError';

function isCallableName(name) {
  return CALLABLE_NAME.test(name) && name !== '.' && name !== '..';
}

function describeType(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  if (type === 'undefined') return 'undefined';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function parsePort(value, source) {
  const text = String(value);
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new ConfigError(`${source} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  }
  return port;
}

function parseByteSize(value, source) {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' && BYTE_SIZE.exec(value);
  if (!match) {
    throw new ConfigError(
      `${source} must be a number of bytes or a size like '512kb', '10mb' or '1gb', got ${JSON.stringify(value)}`,
    );
  }
  return Math.floor(Number(match[1]) * BYTE_UNITS[(match[2] || 'b').toLowerCase()]);
}

function parseDuration(value, source) {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  throw new ConfigError(`${source} must be a number of milliseconds, got ${JSON.stringify(value)}`);
}

function parseAddress(value, source) {
  if (typeof value === 'string' && value !== '') return value;
  throw new ConfigError(`${source} must be a host name or IP address, got ${JSON.stringify(value)}`);
}

function collectFunctions(functions) {
  if (functions === null || typeof functions !== 'object' || Array.isArray(functions)) {
    throw new ConfigError(`"functions" must be an object of functions, like {functions: {name: fn}}, got ${describeType(functions)}`);
  }
  // A Map of the object's own keys: lookups by a name from a URL can never reach
  // Object.prototype (constructor, __proto__, toString ...).
  const byName = new Map();
  for (const name of Object.keys(functions)) {
    const fn = functions[name];
    if (typeof fn !== 'function') {
      throw new ConfigError(`functions[${JSON.stringify(name)}] must be a function, got ${describeType(fn)}`);
    }
    if (!isCallableName(name)) {
      throw new ConfigError(
        `function name ${JSON.stringify(name)} cannot be called over HTTP: names must match ${CALLABLE_NAME} and not be '.' or '..'`,
      );
    }
    byName.set(name, fn);
  }
  return byName;
}

function checkConfig(exported, overrides) {
  if (exported === null || typeof exported !== 'object' || Array.isArray(exported)) {
    throw new ConfigError(`module.exports must be an object like {functions: {name: fn}}, got ${describeType(exported)}`);
  }
  const setting = (key) => (exported[key] === undefined ? DEFAULTS[key] : exported[key]);
  return {
    functions: collectFunctions(exported.functions),
    address: overrides.address ?? parseAddress(setting('address'), 'address'),
    port: overrides.port ?? parsePort(setting('port'), 'port'),
    requestDataLimit: parseByteSize(setting('requestDataLimit'), 'requestDataLimit'),
    shutdownGracePeriod: parseDuration(setting('shutdownGracePeriod'), 'shutdownGracePeriod'),
  };
}

// A caught SyntaxError's stack already starts with "file:line", the offending source line
// and a caret (node decorates it at compile time), so the stack is the useful part.
function describeLoadError(err) {
  if (err instanceof ConfigError) return err.message;
  if (!(err instanceof Error)) return `${describeType(err)} was thrown: ${String(err)}`;
  const headline = `${err.name}: ${err.message}`;
  const stack = String(err.stack || '');
  return stack.startsWith(headline) ? stack : `${headline}\n${stack}`;
}

// `overrides` holds already-parsed CLI values ({address, port}); they win over the file.
function loadConfig(configPath, overrides = {}) {
  let configFile = path.resolve(configPath);
  let source;
  try {
    configFile = fs.realpathSync(configFile);
    source = fs.readFileSync(configFile);
  } catch (err) {
    // Our own fs call failed (ENOENT, EACCES ...): its stack would only show our code.
    throw new ConfigError(`cannot load config file ${configFile}: ${err.message}`);
  }
  try {
    // Hashed as read just before require(), so the hash describes the code that was
    // loaded; Python compares it with the file on disk to notice a stale host.
    const configHash = crypto.createHash('sha1').update(source).digest('hex');
    // Every file the require() below loads is a source of this host (see sources.js):
    // the manager restarts the host, and Python calls it stale, when one of them changes.
    const cachedBefore = new Set(Object.keys(require.cache));
    const exported = require(configFile);
    const sourceFiles = sourceFilesLoadedSince(cachedBefore, configFile);
    return {configFile, configHash, sourceFiles, sourceHash: sourceHash(sourceFiles), ...checkConfig(exported, overrides)};
  } catch (err) {
    throw new ConfigError(`cannot load config file ${configFile}: ${describeLoadError(err)}`);
  }
}

module.exports = {ConfigError, loadConfig, parsePort, parseAddress, isCallableName, describeType};
