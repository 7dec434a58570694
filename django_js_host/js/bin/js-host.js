#!/usr/bin/env node
'use strict';
// The js-host command. It owns the process: argv, the first stdout line (Python reads it
// to learn where the host listens), signals and exit codes. The host itself lives in
// ../lib/host.js, the development manager (--manager) in ../lib/manager.js, the primary of a
// multi-process host (--workers) in ../lib/cluster.js and its workers' side in
// ../lib/cluster-worker.js.
//
// Exit codes: 0 done, 1 config / logfile / listen failure or an uncaught exception in the
// manager or a cluster's primary (a host logs its own and serves on), 2 bad command line.

const path = require('node:path');
const {parseArgs} = require('node:util');

const {CLUSTER_FLAGS, parseClusterOptions} = require('../lib/cluster-options');
const {ConfigError, TOKEN_ENV, loadConfig, parsePort, parseAddress} = require('../lib/config');
const {createLogger, timestamp} = require('../lib/log');
const {checkSocketPath, SocketPathError} = require('../lib/unix-socket');
const {version} = require('../package.json');

// Beyond these, each role (a host, the manager, its --detach launcher, a cluster's primary
// or worker) requires its own modules as it starts: every start pays for what it loads.

const USAGE = `Usage: js-host CONFIG [options]
       js-host --manager --socket PATH [--logfile F] [--json] [--detach]

Serves the functions exported by the config file CONFIG over HTTP:
GET /status, POST /function/<name>?hash=<sha1 of body> with a JSON object body.

Options:
  --port N       listen on port N, 0 for any free port (overrides the config file)
  --address A    listen on address A (overrides the config file)
  --socket PATH  listen on the Unix socket PATH instead of TCP (overrides the config file;
                 not with --port or --address). A stale socket file there is replaced
  --json         once listening, print the host's status as one JSON line first
  --config       print the status the host would report as one JSON line, and exit
  --logfile F    also append all output (stdout and stderr) to the file F
  --version      print the version and exit
  --help         print this help and exit

On TCP the host answers only requests whose Host header names it (loopback, localhost, its
address, or the config's allowedHosts). Requests from browsers (with an Origin header, or
a cross-site Sec-Fetch-Site) and POST bodies other than application/json are refused. With
a token (the config's \`token\`, or the environment variable ${TOKEN_ENV}, which wins),
every request must carry it in the X-JS-Host-Token header.

Several processes (node:cluster), for a host that needs more than one CPU:
  --workers N    run N worker processes sharing the port or socket, each a host loading
                 its own copy of the config; auto for one per available CPU. A primary
                 process starts them, prints the status line once all listen, and replaces
                 a worker that dies (after a pause doubling from 100 ms to 10 s while they
                 keep dying)
  --max-requests N
                 recycle a worker once it has received N requests: its replacement starts
                 first, and once that one listens the old worker finishes its calls and exits
  --max-requests-jitter J
                 add a random 0 to J to each worker's N, so workers are not recycled together
  --max-memory MB
                 recycle a worker once its resident memory (RSS) is over MB megabytes
                 (checked every second and every 100 requests)
--max-requests or --max-memory without --workers imply --workers 1. SIGTERM or SIGINT to
the primary drains every worker within the config's shutdownGracePeriod (a second one cuts
the calls left); workers ignore SIGINT, which Ctrl-C sends them too. A worker failing to
load the config or to listen while no other worker listens makes the primary exit 1 with
the worker's error.

With --manager, runs the development manager instead: it starts one host per config file
on request and stops it once no process is connected to it. It listens on a Unix socket
only, in a directory that only you can enter (mode 700), which is what keeps it yours;
its hosts' sockets and logfiles go in that directory too.
  --socket PATH    the manager's socket
  --detach         start the manager in the background and exit once it listens
  --idle-timeout MS
                   a manager that has had no host exits MS milliseconds after its last
                   request (default 5000); one whose hosts have all stopped, at once
`;

const OPTIONS = {
  port: {type: 'string'},
  address: {type: 'string'},
  json: {type: 'boolean'},
  config: {type: 'boolean'},
  logfile: {type: 'string'},
  version: {type: 'boolean'},
  help: {type: 'boolean'},
  manager: {type: 'boolean'},
  socket: {type: 'string'},
  detach: {type: 'boolean'},
  'idle-timeout': {type: 'string'},
  workers: {type: 'string'},
  'max-requests': {type: 'string'},
  'max-requests-jitter': {type: 'string'},
  'max-memory': {type: 'string'},
};
const MANAGER_ONLY = ['detach', 'idle-timeout'];

// How long an exit waits for the last log lines to be written out.
const FLUSH_TIMEOUT = 1000;

// Writes `text` then exits once `stream` has flushed everything: a plain process.exit()
// can cut a pending write to a pipe, and a config that started timers at load would
// otherwise keep the process alive.
function exitWith(code, stream, text) {
  stream.write(text, () => process.exit(code));
}

// Exits once `logger` has written everything out, or after FLUSH_TIMEOUT at the latest.
function flushAndExit(logger, code) {
  logger.releaseStdout();
  setTimeout(() => process.exit(code), FLUSH_TIMEOUT).unref();
  logger.close().then(() => process.exit(code));
}

function describeListenError(err) {
  // unix-socket.js's errors name the path and what is in the way.
  if (err instanceof SocketPathError) return err.message;
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
  if (values.manager) return {values, manager: parseManagerOptions(values, positionals)};
  const managerOnly = MANAGER_ONLY.find((flag) => values[flag] !== undefined);
  if (managerOnly) throw new Error(`--${managerOnly} only goes with --manager`);
  if (positionals.length !== 1) {
    throw new Error(positionals.length ? `expected one CONFIG path, got ${positionals.length}` : 'missing CONFIG path');
  }
  if (values.socket !== undefined && (values.port !== undefined || values.address !== undefined)) {
    throw new Error(`--socket listens on a Unix socket instead of TCP: it does not go with --${values.port !== undefined ? 'port' : 'address'}`);
  }
  const overrides = {
    port: values.port === undefined ? undefined : parsePort(values.port, '--port'),
    address: values.address === undefined ? undefined : parseAddress(values.address, '--address'),
    socket: values.socket === undefined ? undefined : parseSocketOption(values.socket),
  };
  return {values, configPath: positionals[0], overrides, cluster: parseClusterOptions(values)};
}

// An absolute socket path (a relative one is taken from the current directory).
function parseSocketOption(value) {
  if (value === '' || value.includes('\0')) throw new Error(`--socket must be a path, got ${JSON.stringify(value)}`);
  const socketPath = path.resolve(value);
  try {
    checkSocketPath(socketPath);
  } catch (err) {
    throw new Error(`--socket: ${err.message}`);
  }
  return socketPath;
}

function parseManagerOptions(values, positionals) {
  if (positionals.length) throw new Error(`--manager takes no CONFIG path (it starts hosts on request), got ${positionals.join(' ')}`);
  if (values.config) throw new Error('--config does not go with --manager');
  const hostOnly = CLUSTER_FLAGS.find((flag) => values[flag] !== undefined);
  if (hostOnly) throw new Error(`--${hostOnly} does not go with --manager`);
  // The manager starts processes that run code as this user: no TCP port, where any local
  // user or a browser tab could reach it.
  if (values.address !== undefined || values.port !== undefined || values.socket === undefined) {
    throw new Error('the manager listens on a Unix socket only: --socket PATH');
  }
  return {
    socketPath: parseSocketOption(values.socket),
    logfile: values.logfile,
    json: Boolean(values.json),
    detach: Boolean(values.detach),
    idleTimeout: values['idle-timeout'] === undefined ? undefined : parseMilliseconds(values['idle-timeout'], '--idle-timeout'),
  };
}

function parseMilliseconds(value, flag) {
  const number = Number(value);
  // setTimeout() fires at once for anything longer than 2 ** 31 - 1.
  if (!/^\d+$/.test(value) || number > 2 ** 31 - 1) {
    throw new Error(`${flag} must be a whole number of milliseconds up to ${2 ** 31 - 1}, got ${JSON.stringify(value)}`);
  }
  return number;
}

// The logger of a host process, or null after exiting 1 if the logfile cannot be opened.
function openHostLogger(values, holdStdout = values.json) {
  try {
    return createLogger({logfile: values.logfile, holdStdout});
  } catch (err) {
    exitWith(1, process.stderr, `js-host: cannot open logfile ${values.logfile}: ${err.message}\n`);
    return null;
  }
}

// How a host process reports its start and learns to stop when it runs on its own; a
// --workers worker plays clusterWorkerRole (../lib/cluster-worker.js) instead.
function standaloneRole(logger, values) {
  const {stopWhenOrphanedAndIdle} = require('../lib/orphan');
  const {reportSourcesToManager} = require('../lib/sources');
  return {
    label: 'Host',
    statusExtras: undefined,
    // createHost's own: listenOnSocket, which replaces a stale socket file.
    bindSocket: undefined,
    overrides: (overrides) => overrides,
    reportStartFailure: (text) => logger.error(text),
    // `drain(why)` drains the host and exits; called again, it cuts what is left.
    onStopRequest(drain) {
      process.on('SIGTERM', drain);
      process.on('SIGINT', drain);
    },
    listening(host, drain) {
      reportSourcesToManager(host.config.sources);
      logger.releaseStdout(values.json ? JSON.stringify(host.status()) : `Host listening at ${host.location()}`);
      // Last: it takes away the managed-host mark that reportSourcesToManager reads.
      stopWhenOrphanedAndIdle(host.server, drain);
    },
  };
}

// Runs the host until a signal stops it. The logger comes first: it holds stdout back
// (--json) and copies to the logfile, so even what the config prints while loading is
// caught, after the status line.
async function serve(configPath, overrides, values, makeRole = standaloneRole) {
  const {createHost, describeLocation} = require('../lib/host');
  const {attributeEscapedErrors} = require('../lib/invoke');
  const logger = openHostLogger(values);
  if (!logger) return;
  attributeEscapedErrors({
    onStrayException: (err) => {
      logger.error(`${timestamp()} error: uncaught exception outside any function call (the host keeps running)\n${describeThrown(err)}`);
    },
    onStray: (reason) => {
      logger.error(`${timestamp()} error: unhandled promise rejection outside any function call (the host keeps running)\n${describeThrown(reason)}`);
    },
  });
  const role = makeRole(logger, values);
  const failToStart = async (text) => {
    await role.reportStartFailure(text);
    flushAndExit(logger, 1);
  };

  let config;
  try {
    config = await loadConfig(configPath, role.overrides(overrides));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    failToStart(`js-host: ${err.message}`);
    return;
  }
  const host = createHost(config, {logger, statusExtras: role.statusExtras, bindSocket: role.bindSocket});
  try {
    await host.listen();
  } catch (err) {
    failToStart(`js-host: cannot listen on ${describeLocation(config)}: ${describeListenError(err)}`);
    return;
  }

  let stopping = false;
  const stop = async (why) => {
    if (stopping) {
      logger.info(`${role.label} stopping now (${why} again)`);
      host.close(0);
      return;
    }
    stopping = true;
    logger.info(`${role.label} stopping (${why})`);
    const forced = await host.close();
    if (forced) logger.error(`${timestamp()} warning: cut ${forced} connection(s) still open after the ${config.shutdownGracePeriod}ms grace period`);
    logger.info(`${role.label} stopped`);
    flushAndExit(logger, 0);
  };
  // Before anyone learns that it listens: a SIGTERM sent as soon as the status line is read
  // must drain the host (and remove its socket file), not kill it with Node's default.
  role.onStopRequest(stop, host);
  role.listening(host, stop);
}

// `--workers N`: this process is the primary; it forks the workers (this same command line,
// taking the isClusterWorker() branch of main()) and prints the one status line for them.
function serveCluster(values, {workers}) {
  const {startCluster} = require('../lib/cluster');
  const {describeLocation} = require('../lib/host');
  // Its own lines about starting workers wait too: "Host listening at ..." comes first, as
  // the status line does with --json.
  const logger = openHostLogger(values, true);
  if (!logger) return;
  process.on('uncaughtException', (err) => {
    logger.error(`${timestamp()} fatal: uncaught exception in the cluster primary; exiting (its workers exit with it)\n${describeThrown(err)}`);
    flushAndExit(logger, 1);
  });
  const announce = (status) => {
    logger.releaseStdout(values.json ? JSON.stringify(status) : `Host listening at ${describeLocation(status.config)}`);
  };
  const primary = startCluster({count: workers, logger, announce});
  process.on('SIGTERM', primary.stop);
  process.on('SIGINT', primary.stop);
  primary.stopped.then((code) => flushAndExit(logger, code));
}

// `--config`: stdout carries exactly the one status line (Python parses all of it), so what
// the config prints while loading goes to stderr.
async function printConfigStatus(configPath, overrides) {
  const {hostStatus} = require('../lib/host');
  const stdoutWrite = process.stdout.write;
  process.stdout.write = process.stderr.write.bind(process.stderr);
  let config;
  try {
    config = await loadConfig(configPath, overrides);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return exitWith(1, process.stderr, `js-host: ${err.message}\n`);
  } finally {
    process.stdout.write = stdoutWrite;
  }
  return exitWith(0, process.stdout, `${JSON.stringify(hostStatus(config, config.port))}\n`);
}

// The manager's own output: a logfile or nothing when detached (see detach.js), else its
// stdout and stderr, copied to --logfile if given. Stdout is held back until the line saying
// it listens, which comes first in both modes. Every way it fails to start is also reported
// to a `--detach` parent, which prints it.
async function runManager({socketPath, logfile, json, idleTimeout}) {
  const {checkPrivateDirectory, PrivateDirectoryError} = require('../lib/access');
  const {reportStart} = require('../lib/detach');
  const {createManager} = require('../lib/manager');
  let logger;
  try {
    logger = createLogger({logfile, holdStdout: true});
  } catch (err) {
    exitWith(1, process.stderr, `js-host: cannot open logfile ${logfile}: ${err.message}\n`);
    return;
  }
  const failToStart = (text) => {
    logger.error(text);
    reportStart({failed: text}).then(() => flushAndExit(logger, 1));
  };
  // Its socket's directory is what keeps the manager to its user: refuse a looser one.
  const logDir = path.dirname(socketPath);
  try {
    checkPrivateDirectory(logDir);
  } catch (err) {
    if (!(err instanceof PrivateDirectoryError)) throw err;
    failToStart(`js-host: ${err.message}`);
    return;
  }
  const manager = createManager({socketPath, runDir: logDir, logger, bin: __filename, idleTimeout});
  // Whatever way this process ends, no host is left behind.
  process.on('exit', manager.signalHosts);
  process.on('uncaughtException', (err) => {
    logger.error(`${timestamp()} fatal: uncaught exception in the manager; stopping its hosts and exiting\n${describeThrown(err)}`);
    flushAndExit(logger, 1);
  });
  try {
    await manager.listen();
  } catch (err) {
    failToStart(`js-host: cannot listen on unix:${socketPath}: ${describeListenError(err)}`);
    return;
  }
  // Before anyone learns that it listens: a signal from then on stops the hosts too.
  process.on('SIGTERM', () => manager.stop('SIGTERM'));
  process.on('SIGINT', () => manager.stop('SIGINT'));
  const line = json ? JSON.stringify(manager.status()) : `Manager listening at unix:${socketPath}`;
  logger.releaseStdout(line);
  await reportStart({listening: line});
  await manager.stopped;
  flushAndExit(logger, 0);
}

// The manager command line again, without --detach and --logfile: the detached manager's
// stdout and stderr are the logfile itself.
async function runDetachedManager({socketPath, logfile, json, idleTimeout}) {
  const {startDetached} = require('../lib/detach');
  const args = [__filename, '--manager', '--socket', socketPath];
  if (idleTimeout !== undefined) args.push('--idle-timeout', String(idleTimeout));
  let line;
  try {
    line = await startDetached(json ? [...args, '--json'] : args, logfile);
  } catch (err) {
    exitWith(1, process.stderr, `${err.message}\n`);
    return;
  }
  exitWith(0, process.stdout, `${line}\n`);
}

function main(argv) {
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    exitWith(2, process.stderr, `js-host: ${err.message}\n\n${USAGE}`);
    return;
  }
  const {values, configPath, overrides, manager, cluster} = command;
  if (values.help) return exitWith(0, process.stdout, USAGE);
  if (values.version) return exitWith(0, process.stdout, `${version}\n`);
  if (manager) return manager.detach ? runDetachedManager(manager) : runManager(manager);
  if (values.config) return printConfigStatus(configPath, overrides);
  if (!cluster) return serve(configPath, overrides, values);
  const {isClusterWorker, clusterWorkerRole} = require('../lib/cluster-worker');
  if (isClusterWorker()) return serve(configPath, overrides, values, (logger) => clusterWorkerRole(logger, cluster));
  return serveCluster(values, cluster);
}

main(process.argv.slice(2));
