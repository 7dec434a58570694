'use strict';
// The worker side of `js-host CONFIG --workers N` (the primary is cluster.js). A worker runs
// the same host as a standalone js-host, through bin/js-host.js's serve(); what differs is
// how it reports its start and learns to stop, which is the role object made here:
// - a start-up failure (config error, port in use) goes to the primary, which prints one
//   and exits 1, rather than N copies on stderr;
// - on a Unix socket it binds once, after the primary has cleared a stale socket file and
//   set the file's mode (the primary binds for all workers; see cluster.js);
// - its status goes to the primary, which prints the one status line once all workers
//   listen; until the primary says that line is out, stdout is held back (--json), so the
//   line stays the first even when a config prints while loading;
// - SIGINT is ignored: Ctrl-C reaches the whole process group, and the primary drains every
//   worker itself (a second Ctrl-C cuts them). SIGTERM still drains the worker, for
//   supervisors that signal every process of a cgroup (systemd's default);
// - past --max-requests or --max-memory it asks to be recycled, and keeps serving until the
//   primary, once the replacement listens, tells it to stop.
// If the primary dies, node:cluster itself exits the worker when the IPC channel closes.

const cluster = require('node:cluster');
const {randomInt} = require('node:crypto');
const net = require('node:net');

const {timestamp} = require('./log');
const {bindSocket, SocketPathError} = require('./unix-socket');

// What the primary and its workers say to each other over the IPC channel.
const MESSAGES = Object.freeze({
  // worker -> primary
  LISTENING: 'js-host:listening', // {status, shutdownGracePeriod}
  START_FAILED: 'js-host:start-failed', // {text}: what a standalone host would print
  RECYCLE: 'js-host:recycle', // {reason}
  PREPARE_SOCKET: 'js-host:prepare-socket', // {path, mode}: before binding it
  // primary -> worker
  SOCKET_PREPARED: 'js-host:socket-prepared', // {path, error: null or {message, code}}
  RELEASE_STDOUT: 'js-host:release-stdout',
  STOP: 'js-host:stop', // {why, now}: drain (now: cut what is left)
});

// Set by the primary on each fork (cluster.fork(env)).
const ENV = Object.freeze({
  // The port to listen on instead of the configured one (see cluster.js's forkWorker).
  PORT: 'JS_HOST_WORKER_PORT',
  // The resolved --workers count (`auto` could resolve differently in the worker).
  COUNT: 'JS_HOST_WORKER_COUNT',
});

const MB = 1024 * 1024;
// RSS is also read every this many requests, so a worker allocating fast is caught before
// the next timer tick; reading it costs a few microseconds.
const MEMORY_CHECK_REQUESTS = 100;
const MEMORY_CHECK_INTERVAL = 1000;

function isClusterWorker() {
  return cluster.isWorker;
}

// Calls onExceeded(reason) once, when the server has received its request limit or the
// process's RSS is over the memory limit (bytes); either limit may be null.
function watchLimits(server, {requestLimit, memoryLimit, onExceeded}) {
  if (!requestLimit && !memoryLimit) return;
  let requests = 0;
  let exceeded = false;
  let timer = null;

  function exceed(reason) {
    if (exceeded) return;
    exceeded = true;
    clearInterval(timer);
    server.off('request', countRequest);
    onExceeded(reason);
  }

  function checkMemory() {
    const rss = process.memoryUsage.rss();
    if (rss > memoryLimit) exceed(`RSS ${Math.round(rss / MB)} MB is over --max-memory ${memoryLimit / MB}`);
  }

  function countRequest() {
    requests += 1;
    if (requestLimit && requests >= requestLimit) exceed(`served ${requests} requests, its --max-requests limit`);
    else if (memoryLimit && requests % MEMORY_CHECK_REQUESTS === 0) checkMemory();
  }

  server.on('request', countRequest);
  if (memoryLimit) timer = setInterval(checkMemory, MEMORY_CHECK_INTERVAL).unref();
}

// How long a stopping worker waits between refusing new connections and draining: see
// drainAfterRefusingConnections. Long enough for a client in a loop of keep-alive calls to
// send its next one even on a loaded machine (fewer than 1 in 1000 recycles then close an
// idle connection under a request at 20 ms, none seen at 100 ms); short for a shutdown.
const SETTLE_TIME = 100;

// Returns stop(why, cut): the first call stops accepting connections, and drains the host
// (drain(why), serve()'s) once the connections already accepted have had SETTLE_TIME and
// one more event-loop turn to deliver their first request. A call with `cut` cuts the calls
// left (drain() again), at once.
// Why the wait: draining closes every connection without a request in flight, and Node's
// http server.close() (>= 19) does the same. A connection the worker accepted an instant
// before (the primary hands connections over IPC) usually has its request waiting, unread,
// in the socket; closing it would reset a call its client has sent, on a fresh connection,
// which no HTTP client retries. net.Server's own close() only stops accepting: under
// node:cluster the primary then gives new connections to the other workers.
// Meanwhile every answer says Connection: close, so a busy keep-alive client is told not to
// reuse its connection rather than finding it closed under its next request (which HTTP
// clients retry, but not all: Python's transport does not).
function drainAfterRefusingConnections(server, drain) {
  let wanted = 0; // 1 drain, 2 drain and cut
  let done = 0; // drain() calls made
  let settled = false;
  let lastWhy;
  const act = () => {
    for (; settled && done < wanted; done += 1) drain(lastWhy);
  };
  return (why, cut) => {
    lastWhy = why;
    if (wanted === 0) {
      net.Server.prototype.close.call(server);
      server.prependListener('request', (req, res) => res.setHeader('Connection', 'close'));
      setTimeout(() => setImmediate(() => ((settled = true), act())), SETTLE_TIME);
      wanted = 1;
    }
    if (cut) {
      wanted = 2;
      settled = true;
    }
    act();
  };
}

// Sends `message` to the primary; resolves once it is written (or cannot be: a primary that
// is gone makes node:cluster exit this worker anyway).
function tellPrimary(message) {
  return new Promise((resolve) => {
    try {
      process.send(message, () => resolve());
    } catch {
      resolve();
    }
  });
}

// The role serve() plays as a worker (see bin/js-host.js's standaloneRole for the other).
// `limits`: {maxRequests, maxRequestsJitter, maxMemory (MB)} from the command line.
function clusterWorkerRole(logger, limits) {
  const label = `Worker ${process.pid}`;
  // A stop that came before serve() could act on it (the config was still loading).
  let pendingStop = null;
  let stop = (why, now) => (pendingStop = {why, now});
  // Waiting for SOCKET_PREPARED: socket path -> its resolve function.
  const socketsPreparing = new Map();

  // Registered at once, so that no message is dropped for want of a listener.
  process.on('message', (message) => {
    if (message?.type === MESSAGES.RELEASE_STDOUT) logger.releaseStdout();
    else if (message?.type === MESSAGES.STOP) stop(message.why, message.now);
    else if (message?.type === MESSAGES.SOCKET_PREPARED) socketsPreparing.get(message.path)?.(message.error);
  });

  // createHost's bindSocket. No stale-file handling here: workers bind through the primary's
  // one handle per path, and a worker retrying a failed listen would ask for another handle
  // (node:cluster counts its listen calls), binding the path twice. The primary clears the
  // file once, before the first bind, and sets the mode through its umask.
  async function bindPreparedSocket(server, socketPath, mode) {
    const error = await new Promise((resolve) => {
      socketsPreparing.set(socketPath, resolve);
      tellPrimary({type: MESSAGES.PREPARE_SOCKET, path: socketPath, mode});
    });
    socketsPreparing.delete(socketPath);
    if (error) throw new SocketPathError(error.message, error.code);
    await bindSocket(server, socketPath, null);
  }
  // Ctrl-C in a terminal signals the whole process group: the primary decides.
  process.on('SIGINT', () => {});
  // node:cluster exits the worker at once when the channel closes (the primary was killed);
  // prepended, so that the log says why first.
  process.prependOnceListener('disconnect', () => {
    logger.error(`${timestamp()} ${label}: its primary is gone (IPC channel closed); exiting`);
  });

  const requestLimit = limits.maxRequests ? limits.maxRequests + randomInt(0, (limits.maxRequestsJitter || 0) + 1) : null;
  const memoryLimit = limits.maxMemory ? limits.maxMemory * MB : null;
  const workerCount = Number(process.env[ENV.COUNT]) || 1;
  const assignedPort = process.env[ENV.PORT];
  // Not for the processes the user's functions may start.
  delete process.env[ENV.COUNT];
  delete process.env[ENV.PORT];
  return {
    label,
    // Shown in GET /status by whichever worker answers; its own pid is already there.
    statusExtras: {workers: {count: workerCount, primaryPid: process.ppid}},
    bindSocket: bindPreparedSocket,
    overrides: (overrides) => (assignedPort === undefined ? overrides : {...overrides, port: Number(assignedPort)}),
    reportStartFailure: (text) => tellPrimary({type: MESSAGES.START_FAILED, text}),
    listening(host) {
      tellPrimary({type: MESSAGES.LISTENING, status: host.status(), shutdownGracePeriod: host.config.shutdownGracePeriod});
      watchLimits(host.server, {
        requestLimit,
        memoryLimit,
        onExceeded: (reason) => tellPrimary({type: MESSAGES.RECYCLE, reason}),
      });
      // A STOP that came while it started, answered once the primary knows it listens.
      if (pendingStop) stop(pendingStop.why, pendingStop.now);
    },
    // drain(why) drains the host and exits; a second call cuts what is left. Only a STOP
    // saying `now` or a second SIGTERM cuts: a supervisor that SIGTERMs the whole cgroup
    // reaches the worker and the primary, whose STOP then only repeats the first request.
    // Called before listening(host), so no signal finds the worker without its handler.
    onStopRequest(drain, host) {
      stop = drainAfterRefusingConnections(host.server, drain);
      let sigterms = 0;
      process.on('SIGTERM', () => stop('SIGTERM', (sigterms += 1) > 1));
    },
  };
}

module.exports = {MESSAGES, ENV, isClusterWorker, clusterWorkerRole, watchLimits};
