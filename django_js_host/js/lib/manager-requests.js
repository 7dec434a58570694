'use strict';
// Checks the JSON bodies the manager receives. Each problem is a RequestError whose message
// names the field, the value and what was expected, since it ends up in a Python traceback.

const fs = require('node:fs');
const path = require('node:path');

const {parseJsonBody, isJsonObject} = require('./body');
const {describeType} = require('./config');

// setTimeout() fires at once for anything longer.
const MAX_TIMEOUT = 2 ** 31 - 1;

class RequestError extends Error {
  constructor(statusCode, name, message) {
    super(message);
    this.statusCode = statusCode;
    this.name = name;
  }
}

function parseRequestBody(bytes) {
  let body;
  try {
    body = parseJsonBody(bytes);
  } catch (err) {
    throw new RequestError(400, err.name, err.message);
  }
  if (!isJsonObject(body)) {
    throw new RequestError(400, 'InvalidRequest', `Request body must be a JSON object, got ${describeType(body)}`);
  }
  return body;
}

function invalid(message) {
  return new RequestError(400, 'InvalidRequest', message);
}

// The absolute path the request names; its file need not exist (see findConfigFile).
function requestedConfigPath(body) {
  const {config} = body;
  const problem = (message) => new RequestError(400, 'InvalidConfigPath', message);
  if (config === undefined) {
    throw problem('"config" is missing: name the host by the absolute path of its config file, like {"config": "/path/to/host.config.js"}');
  }
  if (typeof config !== 'string') throw problem(`"config" must be a string (an absolute path), got ${describeType(config)}`);
  if (!path.isAbsolute(config)) throw problem(`"config" must be an absolute path, got ${JSON.stringify(config)}`);
  return config;
}

function describeFileType(stat) {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a named pipe';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

// The real path of an existing config file: hosts are keyed by it, so a symlink and its
// target share one host.
function findConfigFile(config) {
  const problem = (message) => new RequestError(400, 'InvalidConfigPath', message);
  let stat;
  try {
    stat = fs.statSync(config);
  } catch (err) {
    throw problem(err.code === 'ENOENT' ? `config file ${config} does not exist` : `cannot read config file ${config}: ${err.message}`);
  }
  if (!stat.isFile()) throw problem(`config ${config} is not a regular file (${describeFileType(stat)})`);
  return fs.realpathSync(config);
}

// Optional: the host's working directory (where its require() finds node_modules).
function sourceRootOf(body) {
  const {sourceRoot} = body;
  if (sourceRoot === undefined) return undefined;
  if (typeof sourceRoot !== 'string' || !path.isAbsolute(sourceRoot)) {
    throw invalid(`"sourceRoot" must be an absolute path, got ${JSON.stringify(sourceRoot)}`);
  }
  let stat;
  try {
    stat = fs.statSync(sourceRoot);
  } catch (err) {
    throw invalid(err.code === 'ENOENT' ? `sourceRoot ${sourceRoot} does not exist` : `cannot use sourceRoot ${sourceRoot}: ${err.message}`);
  }
  if (!stat.isDirectory()) throw invalid(`sourceRoot ${sourceRoot} is not a directory`);
  return sourceRoot;
}

function ownerOf(body) {
  const {owner} = body;
  if (!Number.isSafeInteger(owner) || owner <= 0) {
    throw invalid(`"owner" must be the process id of the connecting process (a positive integer), got ${JSON.stringify(owner) ?? 'nothing'}`);
  }
  return owner;
}

function connectionOf(body) {
  const {connection} = body;
  if (typeof connection !== 'string' || connection === '') {
    throw invalid(`"connection" must be a non-empty string naming the connection, got ${JSON.stringify(connection) ?? 'nothing'}`);
  }
  return connection;
}

// {restartOnChange, disconnectTimeout}, each undefined when the request leaves it out.
function hostOptionsOf(body) {
  const {restartOnChange, disconnectTimeout} = body;
  if (restartOnChange !== undefined && typeof restartOnChange !== 'boolean') {
    throw invalid(`"restartOnChange" must be true or false, got ${JSON.stringify(restartOnChange)}`);
  }
  if (
    disconnectTimeout !== undefined &&
    !(typeof disconnectTimeout === 'number' && disconnectTimeout >= 0 && disconnectTimeout <= MAX_TIMEOUT)
  ) {
    throw invalid(`"disconnectTimeout" must be a number of milliseconds from 0 to ${MAX_TIMEOUT}, got ${JSON.stringify(disconnectTimeout)}`);
  }
  return {restartOnChange, disconnectTimeout};
}

module.exports = {
  RequestError,
  parseRequestBody,
  requestedConfigPath,
  findConfigFile,
  sourceRootOf,
  ownerOf,
  connectionOf,
  hostOptionsOf,
};
