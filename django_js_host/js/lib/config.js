'use strict';
// Loads and checks a host config file. Every way a config can be wrong is reported here,
// once, naming the file, so that `js-host CONFIG --config` doubles as a config check for
// the Python side before it starts anything.

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const {ConfigError, describeType} = require('./config-error');
const {runConfigFile} = require('./config-module');
const {CALLABLE_NAME, isCallableName, sha1} = require('./protocol');
const {trackSources} = require('./sources');
const {checkSocketPath} = require('./unix-socket');

// The environment variable holding the host's token; it wins over the config's `token`,
// so that a secret need not be written in a file kept with the code.
const TOKEN_ENV = 'JS_HOST_TOKEN';

// host.config.js keys besides `functions`:
// - address, port: where a TCP host listens.
// - socket: the path of a Unix socket to listen on instead (relative to the config file's
//   directory); null listens on TCP. Who may connect is then up to the file system:
// - socketMode: the socket file's mode; 0o600 (its user only) by default. For a web server
//   running as another user (nginx as www-data), use `socketMode: 0o660` and put the socket
//   in a setgid directory (chmod g+s) whose group that user is in: the socket takes the
//   directory's group.
// - allowedHosts: more names a TCP host answers to in the Host header, besides loopback
//   addresses, localhost and its own `address` (guard.js): the names a proxy or another
//   machine uses to reach it. The port is not compared.
// - token: a shared secret every request must carry in the X-JS-Host-Token header
//   (JS_HOST_TOKEN in the environment wins over it). Never logged, never in /status.
// The limits a client cannot push the host past (a hostile one, or a broken proxy):
// - headersTimeout, requestTimeout: milliseconds for a request's headers, and for the whole
//   request with its body, to arrive; past them it is answered 408 and its connection cut.
//   (A function's own run time is not limited here: Python's timeout is its clock.)
// - maxConnections: connections open at once; one more is closed at once, while the open
//   ones (Python keeps its own open) are still served.
// - writeTimeout: milliseconds for an answer to be taken by a client once it is written;
//   a client that stops reading is dropped, and the answer's memory freed.
// - maxJsonDepth: how deep a request's JSON may nest arrays and objects; deeper is refused
//   (400) before it is parsed, whose memory it would cost.
const DEFAULTS = {
  address: '127.0.0.1',
  port: 9009,
  socket: null,
  socketMode: 0o600,
  allowedHosts: [],
  token: null,
  requestDataLimit: 10 * 1024 * 1024,
  shutdownGracePeriod: 10000,
  headersTimeout: 10 * 1000,
  requestTimeout: 30 * 1000,
  maxConnections: 1024,
  writeTimeout: 30 * 1000,
  maxJsonDepth: 512,
};

// The units js-host 0.12 accepted for requestDataLimit (it used the `bytes` package).
const BYTE_UNITS = {b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4};
const BYTE_SIZE = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*$/i;

// A host name in the Host header: letters, digits, '-', '_' and dots.
const HOST_NAME = /^[a-z0-9_.-]+$/i;
// What a header value can carry unchanged: visible ASCII, no spaces (the ends are trimmed).
const TOKEN_TEXT = /^[\x21-\x7e]+$/;

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

function parsePositiveDuration(value, source) {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  throw new ConfigError(`${source} must be a number of milliseconds above 0, got ${JSON.stringify(value)}`);
}

function parseCount(value, source) {
  if (Number.isSafeInteger(value) && value > 0) return value;
  throw new ConfigError(`${source} must be a whole number above 0, got ${JSON.stringify(value)}`);
}

// Node refuses a request timeout shorter than the headers timeout: say so in our words.
function checkTimeouts({headersTimeout, requestTimeout}) {
  if (requestTimeout < headersTimeout) {
    throw new ConfigError(`requestTimeout (${requestTimeout}) must not be shorter than headersTimeout (${headersTimeout}): the headers are part of the request`);
  }
}

function parseAddress(value, source) {
  if (typeof value === 'string' && value !== '') return value;
  throw new ConfigError(`${source} must be a host name or IP address, got ${JSON.stringify(value)}`);
}

// An absolute socket path, or null; a relative one is taken from `baseDir`.
function parseSocketPath(value, source, baseDir) {
  if (value === null) return null;
  if (typeof value !== 'string' || value === '' || value.includes('\0')) {
    throw new ConfigError(`${source} must be the path of a Unix socket (or null for TCP), got ${JSON.stringify(value)}`);
  }
  const socketPath = path.resolve(baseDir, value);
  try {
    checkSocketPath(socketPath);
  } catch (err) {
    throw new ConfigError(`${source}: ${err.message}`);
  }
  return socketPath;
}

function parseSocketMode(value, source) {
  if (Number.isInteger(value) && value >= 0 && value <= 0o777) return value;
  throw new ConfigError(`${source} must be a file mode from 0 to 0o777, like 0o600 or 0o660, got ${JSON.stringify(value)}`);
}

// Lowercased, an IPv6 address without its brackets: as guard.js compares them.
function parseAllowedHosts(value, source) {
  if (!Array.isArray(value)) throw new ConfigError(`${source} must be an array of host names, got ${describeType(value)}`);
  return value.map((entry, index) => {
    const where = `${source}[${index}]`;
    if (typeof entry !== 'string') throw new ConfigError(`${where} must be a host name or IP address, got ${describeType(entry)}`);
    const name = entry.startsWith('[') && entry.endsWith(']') ? entry.slice(1, -1) : entry;
    if (net.isIPv6(name) || HOST_NAME.test(name)) return name.toLowerCase();
    throw new ConfigError(`${where} must be a host name or IP address without a port (the port is not compared), got ${JSON.stringify(entry)}`);
  });
}

// The token from the environment, else the config's; null for none. Messages never show it.
function parseToken(fromFile, env) {
  const fromEnv = env[TOKEN_ENV];
  const [value, source] = fromEnv ? [fromEnv, `the environment variable ${TOKEN_ENV}`] : [fromFile, 'token'];
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' && TOKEN_TEXT.test(value)) return value;
  const what = typeof value === 'string' ? 'a string with spaces or characters outside visible ASCII' : describeType(value);
  throw new ConfigError(`${source} must be a string of visible ASCII characters without spaces, got ${what}`);
}

// No `functions` at all is a host with none, as js-host 0.12 allowed: a project being set up.
function collectFunctions(functions = {}) {
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

// `exportedAs`: what the config object is called in messages (module.exports, the default
// export ...). `configDir`: where a relative socket path starts. `env`: where JS_HOST_TOKEN is read.
function checkConfig(exported, exportedAs, overrides, configDir, env) {
  if (exported === null || typeof exported !== 'object' || Array.isArray(exported)) {
    throw new ConfigError(`${exportedAs} must be an object like {functions: {name: fn}}, got ${describeType(exported)}`);
  }
  const setting = (key) => (exported[key] === undefined ? DEFAULTS[key] : exported[key]);
  const socket = parseSocketPath(setting('socket'), 'socket', configDir);
  // The command line picks the transport: --socket a socket, --port or --address TCP.
  const tcpOverride = overrides.port !== undefined || overrides.address !== undefined;
  return {
    functions: collectFunctions(exported.functions),
    address: overrides.address ?? parseAddress(setting('address'), 'address'),
    port: overrides.port ?? parsePort(setting('port'), 'port'),
    socket: overrides.socket ?? (tcpOverride ? null : socket),
    socketMode: parseSocketMode(setting('socketMode'), 'socketMode'),
    allowedHosts: parseAllowedHosts(setting('allowedHosts'), 'allowedHosts'),
    token: parseToken(setting('token'), env),
    requestDataLimit: parseByteSize(setting('requestDataLimit'), 'requestDataLimit'),
    shutdownGracePeriod: parseDuration(setting('shutdownGracePeriod'), 'shutdownGracePeriod'),
    ...parseLimits(setting),
  };
}

function parseLimits(setting) {
  const limits = {
    headersTimeout: parsePositiveDuration(setting('headersTimeout'), 'headersTimeout'),
    requestTimeout: parsePositiveDuration(setting('requestTimeout'), 'requestTimeout'),
    maxConnections: parseCount(setting('maxConnections'), 'maxConnections'),
    writeTimeout: parsePositiveDuration(setting('writeTimeout'), 'writeTimeout'),
    maxJsonDepth: parseCount(setting('maxJsonDepth'), 'maxJsonDepth'),
  };
  checkTimeouts(limits);
  return limits;
}

// Resolves with the config: the checked values, the functions, and `sources` (sources.js's
// tracker of the files it loaded, then and later). `overrides` holds already-parsed CLI values
// ({address, port, socket}); they win over the file. `env` is where the token may come from
// (JS_HOST_TOKEN).
async function loadConfig(configPath, overrides = {}, env = process.env) {
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
    // Hashed as read just before it runs, so the hash describes the code that was loaded;
    // Python compares it with the file on disk to notice a stale host.
    const configHash = sha1(source);
    // Every file loaded from now on is a source of this host: the manager restarts the
    // host, and Python calls it stale, when one of them changes.
    const sources = trackSources();
    sources.noteConfig(configFile, configHash);
    const {exported, exportedAs, format} = await runConfigFile(configFile, sources);
    await sources.settled();
    return {configFile, configHash, configFormat: format, sources, ...checkConfig(exported, exportedAs, overrides, path.dirname(configFile), env)};
  } catch (err) {
    // Anything else was thrown by the config's own code (a getter of its exports, say).
    const text = err instanceof ConfigError ? err.message : String(err?.stack ?? err);
    throw new ConfigError(`cannot load config file ${configFile}: ${text}`);
  }
}

module.exports = {ConfigError, TOKEN_ENV, loadConfig, parsePort, parseAddress, describeType};
