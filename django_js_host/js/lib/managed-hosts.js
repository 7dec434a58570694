'use strict';
// The manager's hosts, one record per config file (by real path): its host process, its
// connections, its pending stop and its source watch. Every change to a record runs in the
// record's queue, one at a time, so two Python processes connecting at once get one host
// process and a stop never overlaps a start. HTTP is manager.js's business.

const crypto = require('node:crypto');
const path = require('node:path');

const {startHostProcess, describeExit} = require('./host-process');
const {RequestError} = require('./manager-requests');
const {isProcessAlive} = require('./process-alive');
const {sourceHash} = require('./protocol');
const {watchSourceFiles} = require('./source-watch');
const {timestamp} = require('./log');

const DEFAULT_DISCONNECT_TIMEOUT = 5000;

// Returned by an operation that found its record forgotten by the one queued before it.
const FORGOTTEN = Symbol('forgotten');

function configDigest(config) {
  return crypto.createHash('sha1').update(config).digest('hex').slice(0, 10);
}

function hostLogfile(runDir, config) {
  return path.join(runDir, `host-${path.basename(config, '.js')}-${configDigest(config)}.log`);
}

// Short (a socket path has ~104 bytes at most), and this manager's own: the hosts of a
// manager that is still stopping may hold the same config's socket of the one before.
function hostSocket(runDir, config) {
  return path.join(runDir, `host-${configDigest(config)}-${process.pid}.sock`);
}

function unknownHost(config) {
  return new RequestError(404, 'UnknownHost', `No host for config ${config}: start one with POST /host/start or /host/connect`);
}

function stoppingError() {
  return new RequestError(503, 'ManagerStopping', 'This manager is stopping; start a new one once it has exited');
}

// `runDir`: the private directory where host sockets and logfiles go. `bin`: the js-host
// CLI hosts are started with. `onAdded()` / `onForgotten()`: called as records come and go
// (the manager's exit rules).
function createManagedHosts({runDir, bin, logger, onAdded, onForgotten}) {
  const records = new Map();
  let stopping = false;

  const log = (message) => logger.info(`${timestamp()} ${message}`);
  const logError = (message) => logger.error(`${timestamp()} ${message}`);

  // --- the operations behind the manager's routes; each resolves with the host's info ---

  // `host`: {config (real path), requested (the path as the request gave it), sourceRoot,
  // options: {restartOnChange, disconnectTimeout}}.
  function start(host) {
    return withRecord(host.config, host, async (record) => {
      const started = await ensureRunning(record, 'start request');
      cancelStop(record, 'start request');
      return hostInfo(record, started);
    });
  }

  // `host` as for start(), plus `owner` (a pid) and `connection` (an id).
  function connect(host) {
    return withRecord(host.config, host, async (record) => {
      let started = await ensureRunning(record, 'connect request');
      if (!started && record.restartOnChange && isStale(record)) {
        await restart(record, 'connect request: its source files changed since it started');
        started = true;
      }
      addConnection(record, host.connection, host.owner);
      return hostInfo(record, started);
    });
  }

  // A connection the host does not know is already gone: not an error.
  function disconnect(config, connection) {
    return withRecord(config, null, async (record) => {
      removeConnection(record, connection, 'connection closed');
      return hostInfo(record);
    });
  }

  function restartHost(config) {
    return withRecord(config, null, async (record) => {
      await restart(record, 'restart request');
      return hostInfo(record, true);
    });
  }

  function stopHost(config) {
    return withRecord(config, null, async (record) => {
      await halt(record);
      forget(record, 'stop request');
      return hostInfo(record);
    });
  }

  function info(config) {
    const record = records.get(config);
    if (!record) throw unknownHost(config);
    return hostInfo(record);
  }

  function list() {
    return [...records.values()].map((record) => hostInfo(record));
  }

  // The real path of a known host's config by the path a request gave when it started or
  // connected, so a host whose config file was removed or renamed can still be reached.
  function knownConfig(requested) {
    return [...records.values()].find((record) => record.config === requested || record.requestedAs.has(requested))?.config;
  }

  // --- records ---

  function serialize(record, operation) {
    const result = record.queue.then(() => operation(record));
    record.queue = result.catch(() => {});
    return result;
  }

  // Runs operation(record) in the queue of the config's record. `host` (see start()) makes
  // the record when there is none and applies its options; without it an unknown config is
  // a 404.
  async function withRecord(config, host, operation) {
    for (;;) {
      if (stopping) throw stoppingError();
      let record = records.get(config);
      if (!record) {
        if (!host) throw unknownHost(config);
        record = addRecord(config, host.sourceRoot);
      }
      const result = await serialize(record, () => {
        if (record.forgotten) return FORGOTTEN;
        if (stopping) throw stoppingError();
        if (host) {
          record.requestedAs.add(host.requested);
          applyOptions(record, host.options);
        }
        return operation(record);
      });
      if (result !== FORGOTTEN) return result;
    }
  }

  // The working directory is fixed when the record is made: by the first request's
  // sourceRoot, else the config file's directory.
  function addRecord(config, sourceRoot) {
    const record = {
      config,
      cwd: sourceRoot ?? path.dirname(config),
      logfile: hostLogfile(runDir, config),
      socket: hostSocket(runDir, config),
      requestedAs: new Set(),
      state: 'starting',
      process: null,
      pid: null,
      startedAt: null,
      spawns: 0,
      exit: null,
      status: null,
      // {name, message} of the last start's failure (HostStartFailed, ConfigDoesNotLoad),
      // null once a start succeeds: what a Python process is told when it finds the host down.
      startError: null,
      connections: new Map(),
      restartOnChange: false,
      disconnectTimeout: DEFAULT_DISCONNECT_TIMEOUT,
      stopTimer: null,
      watcher: null,
      queue: Promise.resolve(),
      forgotten: false,
    };
    records.set(config, record);
    onAdded();
    return record;
  }

  function forget(record, why) {
    record.forgotten = true;
    clearTimeout(record.stopTimer);
    record.watcher?.close();
    record.connections.clear();
    records.delete(record.config);
    log(`host forgotten: ${record.config} (${why})`);
    onForgotten();
  }

  function hostInfo(record, started = false) {
    return {
      config: record.config,
      state: record.state,
      pid: record.pid,
      socket: record.socket,
      url: `unix:${record.socket}`,
      logfile: record.logfile,
      connections: record.connections.size,
      startedAt: record.startedAt,
      restarts: Math.max(record.spawns - 1, 0),
      exit: record.exit,
      stale: isStale(record),
      startError: record.startError,
      status: record.status,
      started,
    };
  }

  function isStale(record) {
    const sources = record.status?.config;
    return Boolean(sources) && sourceHash(sources.sourceFiles) !== sources.sourceHash;
  }

  // The last request that says wins.
  function applyOptions(record, {restartOnChange, disconnectTimeout}) {
    if (disconnectTimeout !== undefined) record.disconnectTimeout = disconnectTimeout;
    if (restartOnChange !== undefined && restartOnChange !== record.restartOnChange) {
      record.restartOnChange = restartOnChange;
      watchSources(record);
    }
  }

  // --- host processes ---

  // Resolves with true when it had to start the host.
  async function ensureRunning(record, why) {
    if (record.process) return false;
    await launch(record, why);
    return true;
  }

  // Starts the host on the same socket as before, so the URL Python holds stays right, and
  // always into the same logfile. A failure rejects with
  // HostStartFailed, its `logfile` set, and leaves the record 'exited'.
  async function launch(record, why) {
    record.state = 'starting';
    let hostProcess;
    try {
      hostProcess = await startHostProcess({
        bin,
        config: record.config,
        socket: record.socket,
        cwd: record.cwd,
        logfile: record.logfile,
        onSources: (sources) => sourcesLoaded(record, hostProcess, sources),
      });
    } catch (err) {
      Object.assign(record, {state: 'exited', exit: err.exit ?? null, startError: {name: err.name, message: err.message}});
      err.logfile = record.logfile;
      logError(`host failed to start: ${record.config} (${why}; logfile ${record.logfile})\n${err.message}`);
      stopIfUnused(record);
      throw err;
    }
    const {pid, status} = hostProcess;
    Object.assign(record, {
      process: hostProcess,
      state: 'running',
      pid,
      startedAt: timestamp(),
      exit: null,
      status,
      startError: null,
    });
    record.spawns += 1;
    log(`host started: ${record.config} (${why}; pid ${pid}, socket ${record.socket}, logfile ${record.logfile})`);
    hostProcess.exited.then((exit) => onHostExit(record, hostProcess, exit));
    // The files it loaded this time, since editors replace files and a config may now load others.
    watchSources(record);
  }

  // A host that stops on its own stays down, so a crash is seen rather than hidden by a
  // respawn; the next start, connect or restart request brings it back.
  function onHostExit(record, hostProcess, exit) {
    if (record.process !== hostProcess) return;
    Object.assign(record, {process: null, state: 'exited', exit});
    logError(`host exited unexpectedly: ${record.config} (pid ${hostProcess.pid}, ${describeExit(exit)}; logfile ${record.logfile}); it stays down until a start, connect or restart request`);
    stopIfUnused(record);
  }

  async function halt(record) {
    const hostProcess = record.process;
    if (!hostProcess) return;
    record.process = null;
    const exit = await hostProcess.stop();
    record.state = 'exited';
    log(`host stopped: ${record.config} (pid ${hostProcess.pid}, ${describeExit(exit)})`);
  }

  // Same socket, same logfile, same connections.
  async function restart(record, why) {
    log(`host restarting: ${record.config} (${why})`);
    record.state = 'starting';
    await halt(record);
    await launch(record, why);
  }

  // --- connections ---

  function addConnection(record, connection, owner) {
    record.connections.set(connection, owner);
    cancelStop(record, `connection ${connection} opened`);
    log(`connection opened: ${record.config} (owner ${owner}, connection ${connection}; ${record.connections.size} open)`);
  }

  // `event` names why in the log line.
  function removeConnection(record, connection, event) {
    const owner = record.connections.get(connection);
    if (owner === undefined) return;
    record.connections.delete(connection);
    log(`${event}: ${record.config} (owner ${owner}, connection ${connection}; ${record.connections.size} open)`);
    if (record.connections.size === 0) scheduleStop(record, 'no connections left');
  }

  // A Python process killed with SIGKILL never disconnects: its connections go once its
  // process is found gone.
  function dropDeadOwners() {
    for (const record of records.values()) {
      for (const [connection, owner] of record.connections) {
        if (!isProcessAlive(owner)) removeConnection(record, connection, 'dead owner dropped');
      }
    }
  }

  // A host that is down with nobody connected would otherwise keep the manager alive forever.
  function stopIfUnused(record) {
    if (record.connections.size === 0) scheduleStop(record, 'down, with no connections');
  }

  function scheduleStop(record, why) {
    clearTimeout(record.stopTimer);
    log(`host stop scheduled in ${record.disconnectTimeout}ms: ${record.config} (${why})`);
    record.stopTimer = setTimeout(() => {
      record.stopTimer = null;
      serialize(record, async () => {
        if (record.forgotten || record.connections.size > 0) return;
        await halt(record);
        forget(record, `no connections for ${record.disconnectTimeout}ms`);
      });
    }, record.disconnectTimeout);
  }

  function cancelStop(record, why) {
    if (!record.stopTimer) return;
    clearTimeout(record.stopTimer);
    record.stopTimer = null;
    log(`host stop cancelled: ${record.config} (${why})`);
  }

  // --- restartOnChange ---

  function watchSources(record) {
    record.watcher?.close();
    record.watcher =
      record.restartOnChange && record.status
        ? watchSourceFiles(record.status.config.sourceFiles, (files) => restartOnChange(record, files))
        : null;
  }

  // Files a host loads after it started (a function's lazy require() or import()) are its
  // sources too: watched from now on, and one that changed since it was loaded restarts it.
  function sourcesLoaded(record, hostProcess, sources) {
    if (record.process !== hostProcess) return;
    const known = new Set(record.status.config.sourceFiles);
    Object.assign(record.status.config, sources);
    watchSources(record);
    restartOnChange(record, sources.sourceFiles.filter((file) => !known.has(file)));
  }

  // A running host restarts only when its sources really differ (saving a file unchanged
  // is common). A host whose last start failed retries on any change: the user fixing the
  // error may well restore the exact bytes it last started with.
  function restartOnChange(record, files) {
    serialize(record, async () => {
      if (record.forgotten || !record.restartOnChange) return;
      if (record.process ? !isStale(record) : !record.startError) return;
      // A failure is logged by launch() and leaves the record 'exited'.
      await restart(record, `files changed: ${files.join(', ')}`).catch(() => {});
    });
  }

  // --- all of them ---

  // Stops every host, after whatever its queue holds; requests from now on get 503.
  async function stopAll() {
    stopping = true;
    const stopOne = async (record) => {
      await halt(record);
      forget(record, 'manager stopping');
    };
    await Promise.all([...records.values()].map((record) => serialize(record, stopOne)));
  }

  // Last resort for an exit that skipped stopAll() (a fatal error): SIGTERM every host now,
  // as nothing can be awaited any more.
  function signalAll() {
    for (const record of records.values()) record.process?.stop();
  }

  return {
    start,
    connect,
    disconnect,
    restart: restartHost,
    stop: stopHost,
    info,
    list,
    knownConfig,
    dropDeadOwners,
    stopAll,
    signalAll,
    get size() {
      return records.size;
    },
  };
}

module.exports = {createManagedHosts, stoppingError, DEFAULT_DISCONNECT_TIMEOUT};
