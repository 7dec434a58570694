#!/usr/bin/env node
'use strict';
// The js-host command. It owns the process: argv, the first stdout line (Python reads it
// to learn the port), signals and exit codes. The host itself lives in ../lib/host.js.
//
// Exit codes: 0 done, 1 config / logfile / listen failure or a fatal uncaught exception,
// 2 bad command line.

const {parseArgs} = require('node:util');

const {ConfigError, loadConfig, parsePort, parseAddress} = require('../lib/config');
const {createHost, hostStatus, formatAddress} = require('../lib/host');
const {attributeEscapedErrors} = require('../lib/invoke');
const {createLogger, timestamp} = require('../lib/log');
const {version} = require('../package.json');

const USAGE = `Usage: js-host CONFIG [options]

Serves the functions exported by the config file CONFIG over HTTP:
GET /status, POST /function/<name>?hash=<sha1 of body> with a JSON object body.

Options:
  --port N       listen on port N, 0 for any free port (overrides the config file)
  --address A    listen on address A (overrides the config file)
  --json         once listening, print the host's status as one JSON line first
  --config       print the status the host would report as one JSON line, and exit
  --logfile F    also append all output (stdout and stderr) to the file F
  --version      print the version and exit
  --help         print this help and exit
`;

const OPTIONS = {
  port: {type: 'string'},
  address: {type: 'string'},
  json: {type: 'boolean'},
  config: {type: 'boolean'},
  logfile: {type: 'string'},
  version: {type: 'boolean'},
  help: {type: 'boolean'},
};

// How long an exit waits for the last log lines to be written out.
const FLUSH_TIMEOUT = 1000;

// Writes `text` then exits once `stream` has flushed everything: a plain process.exit()
// can cut a pending write to a pipe, and a config that started timers at load would
// otherwise keep the process alive.
function exitWith(code, stream, text) {
  stream.write(text, () => process.exit(code));
}

function describeListenError(err) {
  const reasons = {
    EADDRINUSE: 'address already in use',
    EADDRNOTAVAIL: 'address not available on this machine',
    EACCES: 'permission denied',
    ENOTFOUND: 'no such host name',
  };
  return reasons[err.code] ? `${reasons[err.code]} (${err.code})` : err.message;
}

function describeThrown(err) {
  return err instanceof Error ? String(err.stack || err) : String(err);
}

function parseCommandLine(argv) {
  const {values, positionals} = parseArgs({args: argv, options: OPTIONS, allowPositionals: true, strict: true});
  if (values.help || values.version) return {values};
  if (positionals.length !== 1) {
    throw new Error(positionals.length ? `expected one CONFIG path, got ${positionals.length}` : 'missing CONFIG path');
  }
  const overrides = {
    port: values.port === undefined ? undefined : parsePort(values.port, '--port'),
    address: values.address === undefined ? undefined : parseAddress(values.address, '--address'),
  };
  return {values, configPath: positionals[0], overrides};
}

// Runs the host until a signal stops it. The logger comes first: it holds stdout back
// (--json) and copies to the logfile, so even what the config prints while loading is
// caught, after the status line.
async function serve(configPath, overrides, values) {
  let logger;
  try {
    logger = createLogger({logfile: values.logfile, holdStdout: values.json});
  } catch (err) {
    exitWith(1, process.stderr, `js-host: cannot open logfile ${values.logfile}: ${err.message}\n`);
    return;
  }
  const flushAndExit = (code) => {
    logger.releaseStdout();
    setTimeout(() => process.exit(code), FLUSH_TIMEOUT).unref();
    logger.close().then(() => process.exit(code));
  };
  attributeEscapedErrors({
    onFatal: (err) => {
      logger.error(`${timestamp()} fatal: uncaught exception outside any function call; exiting, as the host's state is unknown\n${describeThrown(err)}`);
      flushAndExit(1);
    },
    onStray: (reason) => {
      logger.error(`${timestamp()} error: unhandled promise rejection outside any function call (the host keeps running)\n${describeThrown(reason)}`);
    },
  });

  let config;
  try {
    config = loadConfig(configPath, overrides);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error(`js-host: ${err.message}`);
    flushAndExit(1);
    return;
  }
  const host = createHost(config, {logger});
  let address;
  try {
    address = await host.listen();
  } catch (err) {
    logger.error(`js-host: cannot listen on ${formatAddress(config.address, config.port)}: ${describeListenError(err)}`);
    flushAndExit(1);
    return;
  }
  logger.releaseStdout(values.json ? JSON.stringify(host.status()) : `Host listening at ${formatAddress(address.address, address.port)}`);

  let stopping = false;
  const stop = async (signal) => {
    if (stopping) {
      logger.info(`Host stopping now (${signal} again)`);
      host.close(0);
      return;
    }
    stopping = true;
    logger.info(`Host stopping (${signal})`);
    const forced = await host.close();
    if (forced) logger.error(`${timestamp()} warning: cut ${forced} connection(s) still open after the ${config.shutdownGracePeriod}ms grace period`);
    logger.info('Host stopped');
    flushAndExit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// `--config`: stdout carries exactly the one status line (Python parses all of it), so what
// the config prints while loading goes to stderr.
function printConfigStatus(configPath, overrides) {
  const stdoutWrite = process.stdout.write;
  process.stdout.write = process.stderr.write.bind(process.stderr);
  let config;
  try {
    config = loadConfig(configPath, overrides);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return exitWith(1, process.stderr, `js-host: ${err.message}\n`);
  } finally {
    process.stdout.write = stdoutWrite;
  }
  return exitWith(0, process.stdout, `${JSON.stringify(hostStatus(config, config.port))}\n`);
}

function main(argv) {
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    exitWith(2, process.stderr, `js-host: ${err.message}\n\n${USAGE}`);
    return;
  }
  const {values, configPath, overrides} = command;
  if (values.help) return exitWith(0, process.stdout, USAGE);
  if (values.version) return exitWith(0, process.stdout, `${version}\n`);
  return values.config ? printConfigStatus(configPath, overrides) : serve(configPath, overrides, values);
}

main(process.argv.slice(2));
