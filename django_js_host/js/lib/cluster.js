'use strict';
// The primary of `js-host CONFIG --workers N`: N worker processes on node:cluster sharing one
// port, each running the same host as a standalone js-host (cluster-worker.js is their side).
// The primary loads no config (the user's code runs in the workers only) and serves nothing.
// It
// - announces the cluster (the one status line) once every worker listens;
// - replaces a worker that dies, backing off while replacements keep dying, and exits 1 with
//   the worker's own error when one fails before listening while none listens (at start-up,
//   or after they all died): a config error or a port in use would only fail again;
// - recycles a worker that asks for it (--max-requests, --max-memory): forks the replacement
//   first, and only once that one listens tells the old one to drain and exit, so no call
//   is lost and the number of workers serving never dips;
// - on stop(), drains every worker (each within its config's shutdownGracePeriod) and
//   resolves `stopped` with the exit code;
// - for a host on a Unix socket, clears a stale socket file before the first worker binds
//   it, and sets its process umask so that the file is created with the config's
//   socketMode: node:cluster binds in the primary, for all workers (prepareSocket).

const cluster = require('node:cluster');

const {MESSAGES, ENV} = require('./cluster-worker');
const {timestamp} = require('./log');
const {clearStaleSocket} = require('./unix-socket');

// Replacing a worker that died waits FIRST_BACKOFF, doubled after each death up to
// MAX_BACKOFF, so a worker that crashes at once (a config broken on disk, a function killing
// its process) is not re-forked in a tight loop; a worker that stayed up STABLE_UPTIME
// before dying starts the count again.
const FIRST_BACKOFF = 100;
const MAX_BACKOFF = 10 * 1000;
const STABLE_UPTIME = 10 * 1000;
// A worker still running this long after its grace period (stuck in a loop) is killed.
const KILL_MARGIN = 5 * 1000;
// The grace period assumed until a worker has reported its config's.
const DEFAULT_GRACE_PERIOD = 10 * 1000;

function describeExit({code, signal}) {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

// Starts `count` workers. `announce(status)` is called once, when all of them listen, with
// a worker's status whose pid is the primary's (the process that was started); the workers'
// stdout is held back until it returns. `logger` is log.js's.
// Returns {stop(why), stopped}: stop() drains the workers (called again, it cuts their calls);
// `stopped` resolves with the exit code once every worker is gone.
function startCluster({count, logger, announce}) {
  const log = (message) => logger.info(`${timestamp()} cluster: ${message}`);
  const logError = (message) => logger.error(`${timestamp()} cluster: ${message}`);

  // {worker, pid, state: 'starting' | 'listening' | 'stopping', listenPort (see forkWorker),
  // listeningSince, retiring (the reason it asked to be recycled, or null), failure (its
  // start-up error text, or null)}
  const records = new Set();
  const forkTimers = new Set();
  let announced = false;
  // The port the workers listen on, once the first one has one.
  let port = null;
  let gracePeriod = DEFAULT_GRACE_PERIOD;
  // Deaths in a row of workers that did not stay up: the exponent of the backoff.
  let deaths = 0;
  // Why the cluster is stopping, once it is; and with which exit code.
  let stopping = null;
  let exitCode = 0;
  let killTimer = null;
  let resolveStopped;
  const stopped = new Promise((resolve) => (resolveStopped = resolve));
  // Socket path -> a promise of null once ready for the workers to bind, or of the error
  // {message, code} that keeps it from being used (a server already answers there).
  const preparedSockets = new Map();
  // The umask this process had before prepareSocket set its own; workers are forked with it.
  let forkUmask = null;

  // Whatever way the primary ends, no worker outlives it stuck in a loop (a worker that can
  // still run JS exits by itself once its IPC channel closes).
  process.on('exit', () => {
    for (const {worker} of records) worker.process.kill('SIGKILL');
  });

  // Workers share node:cluster's listening socket only if they listen with the same port
  // argument, and that socket closes with the last worker listening on it. So with --port 0,
  // a worker joining others listens on 0 like them (they got the port from the OS through
  // it); a worker forked when none is left takes the port they had, explicitly (ENV.PORT),
  // and those joining it do the same. A fixed port is the same either way.
  function forkWorker() {
    const holder = [...records].find((record) => record.state === 'starting' || record.state === 'listening');
    const listenPort = holder ? holder.listenPort : port;
    const env = {[ENV.COUNT]: String(count)};
    if (listenPort !== null) env[ENV.PORT] = String(listenPort);
    const worker = withForkUmask(() => cluster.fork(env));
    const record = {worker, pid: worker.process.pid, state: 'starting', listenPort, listeningSince: 0, retiring: null, failure: null};
    records.add(record);
    log(`worker ${record.pid} started`);
    worker.on('message', (message) => onMessage(record, message));
    // fork() failing (EAGAIN) is followed by 'exit'; unhandled, 'error' would end the primary.
    worker.on('error', (err) => logError(`worker ${record.pid}: ${err.message}`));
    // Gone once it has exited and its IPC channel is read to the end: a START_FAILED sent
    // just before exiting is then known.
    let exit = null;
    let disconnected = false;
    const whenGone = () => exit && disconnected && onGone(record, exit);
    worker.once('exit', (code, signal) => {
      exit = {code, signal};
      whenGone();
    });
    worker.once('disconnect', () => {
      disconnected = true;
      whenGone();
    });
  }

  // The workers' own umask is the one this process was started with: a function creating
  // files gets what the user expects.
  function withForkUmask(fork) {
    if (forkUmask === null) return fork();
    const socketUmask = process.umask(forkUmask);
    try {
      return fork();
    } finally {
      process.umask(socketUmask);
    }
  }

  // A worker is about to bind `socketPath` (every worker asks; its config names the path,
  // and the primary loads no config). The first time, a stale socket file is removed (a
  // file a server answers on, or that is no socket, fails every worker alike) and the umask
  // set for `mode`, before any worker binds: clearing once a worker listens would probe our
  // own workers. Later binds (a replacement, or all workers gone and the file with them)
  // find the path free or shared.
  function prepareSocket(record, {path: socketPath, mode}) {
    let prepared = preparedSockets.get(socketPath);
    if (prepared === undefined) {
      prepared = clearStaleSocket(socketPath).then(
        () => {
          const previous = process.umask(0o777 & ~mode);
          forkUmask ??= previous;
          return null;
        },
        (err) => ({message: err.message, code: err.code}),
      );
      preparedSockets.set(socketPath, prepared);
    }
    prepared.then((error) => tell(record, {type: MESSAGES.SOCKET_PREPARED, path: socketPath, error}));
  }

  // Forks workers until `count` are starting or serving (a retiring worker is not counted:
  // it waits for its replacement), after `delay` ms.
  function fillSlots(delay) {
    if (stopping) return;
    let serving = forkTimers.size;
    for (const record of records) if (record.state !== 'stopping' && !record.retiring) serving += 1;
    for (; serving < count; serving += 1) {
      if (delay === 0) {
        forkWorker();
        continue;
      }
      const timer = setTimeout(() => {
        forkTimers.delete(timer);
        forkWorker();
      }, delay);
      forkTimers.add(timer);
    }
  }

  function backoff() {
    const delay = Math.min(FIRST_BACKOFF * 2 ** deaths, MAX_BACKOFF);
    deaths += 1;
    return delay;
  }

  function tell(record, message) {
    if (record.worker.isConnected()) record.worker.send(message, () => {});
  }

  function stopWorker(record, why, now = false) {
    record.state = 'stopping';
    tell(record, {type: MESSAGES.STOP, why, now});
  }

  function onMessage(record, message) {
    switch (message?.type) {
      case MESSAGES.LISTENING:
        return onListening(record, message);
      case MESSAGES.PREPARE_SOCKET:
        return prepareSocket(record, message);
      case MESSAGES.START_FAILED:
        record.failure = String(message.text);
        return undefined;
      case MESSAGES.RECYCLE:
        if (stopping || record.retiring || record.state !== 'listening') return undefined;
        record.retiring = String(message.reason);
        log(`recycling worker ${record.pid} (${record.retiring}): starting its replacement`);
        return fillSlots(0);
      default:
        return undefined;
    }
  }

  function onListening(record, {status, shutdownGracePeriod}) {
    if (record.state !== 'starting') return;
    record.state = 'listening';
    record.listeningSince = Date.now();
    port ??= status.config.port;
    gracePeriod = shutdownGracePeriod;
    log(`worker ${record.pid} listening`);
    if (stopping) {
      stopWorker(record, stopping);
      return;
    }
    // A worker waiting for its replacement can go now: this one takes its place.
    const retiring = [...records].find((other) => other.retiring && other.state === 'listening');
    if (retiring) {
      log(`worker ${retiring.pid} stopping: worker ${record.pid} replaces it`);
      stopWorker(retiring, `recycled: ${retiring.retiring}`);
    }
    if (announced) {
      tell(record, {type: MESSAGES.RELEASE_STDOUT});
      return;
    }
    const listening = [...records].filter((other) => other.state === 'listening');
    if (listening.length < count) return;
    announced = true;
    announce({...status, pid: process.pid});
    for (const other of listening) tell(other, {type: MESSAGES.RELEASE_STDOUT});
  }

  function onGone(record, exit) {
    records.delete(record);
    const {pid} = record;
    if (record.state === 'stopping' || stopping) {
      log(`worker ${pid} stopped (${describeExit(exit)})`);
    } else if (record.state === 'starting') {
      const text = record.failure ?? `js-host: worker ${pid} exited (${describeExit(exit)}) before listening`;
      if (!announced || ![...records].some((other) => other.state === 'listening')) {
        logger.error(text);
        stop('a worker failed to start', 1);
      } else {
        const delay = backoff();
        logError(`worker ${pid} failed to start (${describeExit(exit)}); starting another in ${delay}ms:\n${text}`);
        fillSlots(delay);
      }
    } else if (record.retiring) {
      // Its replacement is already on the way.
      logError(`worker ${pid} exited (${describeExit(exit)}) while waiting for its replacement`);
    } else {
      if (Date.now() - record.listeningSince >= STABLE_UPTIME) deaths = 0;
      const delay = backoff();
      logError(`worker ${pid} exited unexpectedly (${describeExit(exit)}); starting a replacement in ${delay}ms`);
      fillSlots(delay);
    }
    if (stopping && records.size === 0) finish();
  }

  function finish() {
    clearTimeout(killTimer);
    if (exitCode === 0) logger.info('Host stopped');
    resolveStopped(exitCode);
  }

  // The first call drains every worker; a second one cuts their calls in flight.
  function stop(why, code = 0) {
    if (stopping) {
      logger.info(`Host stopping now (${why} again)`);
      for (const record of records) stopWorker(record, why, true);
      return;
    }
    stopping = why;
    exitCode = code;
    if (code === 0) logger.info(`Host stopping (${why})`);
    for (const timer of forkTimers) clearTimeout(timer);
    forkTimers.clear();
    for (const record of records) stopWorker(record, why);
    if (records.size === 0) {
      finish();
      return;
    }
    killTimer = setTimeout(() => {
      for (const record of records) {
        logError(`worker ${record.pid} still running ${gracePeriod + KILL_MARGIN}ms after ${why}; killing it`);
        record.worker.process.kill('SIGKILL');
      }
    }, gracePeriod + KILL_MARGIN);
  }

  fillSlots(0);
  return {stop: (why) => stop(why), stopped};
}

module.exports = {startCluster};
