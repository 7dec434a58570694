'use strict';
// The development manager's server: one host process per config file (managed-hosts.js),
// started on request and shared by every Python process that connects, stopped a while
// after the last one has gone. Hosts outlive Python restarts (Django's autoreloader), so
// their start-up is paid once. This module answers HTTP and decides when the manager
// itself is done; like host.js it owns no process-wide concern (argv, signals, exit): the
// CLI waits on `stopped`.

const http = require('node:http');

const {readBody, createReplies} = require('./body');
const {HostStartFailed} = require('./host-process');
const {timestamp} = require('./log');
const {createManagedHosts, stoppingError, DEFAULT_DISCONNECT_TIMEOUT} = require('./managed-hosts');
const {
  RequestError,
  parseRequestBody,
  requestedConfigPath,
  findConfigFile,
  sourceRootOf,
  ownerOf,
  connectionOf,
  hostOptionsOf,
} = require('./manager-requests');
const {trackConnections} = require('./shutdown');
const {sweepRunDir} = require('./sweep');
const {listenOnSocket} = require('./unix-socket');
const {version} = require('../package.json');

const BODY_LIMIT = 64 * 1024;
const OWNER_CHECK_INTERVAL = 1000;
// For the manager's own HTTP connections when it stops; its answers are quick.
const CLOSE_GRACE_PERIOD = 1000;

// Only its owner can reach the manager (access.js): the socket is in a private directory
// and owner-only itself. `runDir`: that directory, where host sockets and logfiles go too.
// `bin`: the js-host CLI that hosts are started with. `logger`: log.js's. `idleTimeout`:
// how long a manager that never had a host waits for a request before it exits (Python
// passes its DISCONNECT_TIMEOUT, which is how long a host outlives its last connection).
function createManager({socketPath, runDir, logger, bin, idleTimeout = DEFAULT_DISCONNECT_TIMEOUT}) {
  const hosts = createManagedHosts({runDir, bin, logger, onAdded: onHostAdded, onForgotten: exitIfNoHosts});
  const server = http.createServer(handleRequest);
  const connections = trackConnections(server);
  // Every answer goes out through these (body.js).
  const replies = createReplies(connections);
  const routes = new Map([
    ['/status', ['GET', status]],
    ['/host/start', ['POST', (body) => hosts.start(hostRequest(body))]],
    ['/host/connect', ['POST', (body) => hosts.connect({...hostRequest(body), owner: ownerOf(body), connection: connectionOf(body)})]],
    ['/host/disconnect', ['POST', (body) => hosts.disconnect(knownConfigPath(body), connectionOf(body))]],
    ['/host/restart', ['POST', (body) => hosts.restart(knownConfigPath(body))]],
    ['/host/stop', ['POST', (body) => hosts.stop(knownConfigPath(body))]],
    ['/host/status', ['POST', (body) => hosts.info(knownConfigPath(body))]],
    ['/manager/stop', ['POST', managerStopRequest]],
  ]);
  let hadHost = false;
  let requestsInFlight = 0;
  let stopping = false;
  let idleTimer = null;
  let ownerCheck = null;
  let resolveStopped;
  const stopped = new Promise((resolve) => (resolveStopped = resolve));

  const log = (message) => logger.info(`${timestamp()} ${message}`);

  // Resolves once listening; rejects with the listen error (EADDRINUSE: a manager answers
  // there already). A socket file left by a killed manager is replaced (unix-socket.js).
  async function listen() {
    await listenOnSocket(server, socketPath, 0o600);
    log(`manager listening at unix:${socketPath} (pid ${process.pid}, host sockets and logfiles in ${runDir})`);
    const swept = sweepRunDir(runDir);
    if (swept.length) log(`removed what earlier managers left: ${swept.join(', ')}`);
    exitIfNoHosts();
    ownerCheck = setInterval(hosts.dropDeadOwners, OWNER_CHECK_INTERVAL);
  }

  function status() {
    return {type: 'Manager', version, pid: process.pid, socket: socketPath, hosts: hosts.list()};
  }

  // --- HTTP ---

  // The manager's answers are all JSON.
  function reply(res, statusCode, payload, headers) {
    replies.replyJson(res, statusCode, payload, headers);
  }

  function refuse(req, res, error, headers) {
    replies.refuse(req, res, error.statusCode, error, headers);
  }

  function replyError(res, err) {
    if (err instanceof RequestError) {
      reply(res, err.statusCode, {name: err.name, message: err.message});
    } else if (err instanceof HostStartFailed) {
      reply(res, 500, {name: err.name, message: err.message, logfile: err.logfile});
    } else {
      logger.error(`${timestamp()} error: a request failed inside the manager\n${err.stack}`);
      reply(res, 500, {name: 'InternalError', message: String(err.stack)});
    }
  }

  function handleRequest(req, res) {
    const urlPath = req.url.split('?', 1)[0];
    const route = routes.get(urlPath);
    if (!route) {
      const message = `No such path ${JSON.stringify(urlPath)}: this manager answers GET /status, POST /host/start, /host/connect, /host/disconnect, /host/restart, /host/stop, /host/status and /manager/stop`;
      refuse(req, res, new RequestError(404, 'NotFound', message));
      return;
    }
    const [method, handle] = route;
    if (req.method !== method) {
      refuse(req, res, new RequestError(405, 'MethodNotAllowed', `Use ${method} ${urlPath}`), {Allow: method});
      return;
    }
    if (stopping) {
      refuse(req, res, stoppingError());
      return;
    }
    readBody(req, BODY_LIMIT, (bytes) => {
      if (bytes === null) {
        const message = `Request body is over the manager's limit of ${BODY_LIMIT} bytes`;
        reply(res, 413, {name: 'RequestTooLarge', message}, {Connection: 'close'});
        return;
      }
      requestsInFlight += 1;
      clearTimeout(idleTimer);
      new Promise((resolve) => resolve(handle(parseRequestBody(bytes))))
        .then((payload) => reply(res, 200, payload), (err) => replyError(res, err))
        .finally(() => {
          requestsInFlight -= 1;
          exitIfNoHosts();
        });
    });
  }

  // --- requests ---

  // What /host/start and /host/connect say about the host they want.
  function hostRequest(body) {
    const requested = requestedConfigPath(body);
    return {config: findConfigFile(requested), requested, sourceRoot: sourceRootOf(body), options: hostOptionsOf(body)};
  }

  // The real path of the config a request names. A host whose config file has been removed
  // or renamed since can still be asked about, disconnected from, restarted and stopped,
  // by the path it was started with.
  function knownConfigPath(body) {
    const requested = requestedConfigPath(body);
    try {
      return findConfigFile(requested);
    } catch (err) {
      const known = hosts.knownConfig(requested);
      if (known) return known;
      throw err;
    }
  }

  function managerStopRequest() {
    // After this answer has gone out.
    setImmediate(stop, 'stop request');
    return {stopping: true};
  }

  // --- when the manager is done ---

  function onHostAdded() {
    hadHost = true;
    clearTimeout(idleTimer);
  }

  // The manager exists for its hosts: once the last is gone, and no request is under way
  // that could start another, it stops. One that never had a host (its Python process died
  // before connecting, or asked for a config that does not exist) waits idleTimeout for a
  // request first, as long as a host outlives its last connection.
  function exitIfNoHosts() {
    if (hosts.size > 0 || requestsInFlight > 0 || stopping) return;
    if (hadHost) {
      stop('no hosts left');
      return;
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => stop(`no host requested for ${idleTimeout}ms`), idleTimeout);
  }

  // `stopped` resolves once every host has stopped and the server is closed.
  function stop(why) {
    if (stopping) return;
    stopping = true;
    log(`manager stopping (${why})`);
    clearTimeout(idleTimer);
    clearInterval(ownerCheck);
    // Not listening any more, so a new manager can take the socket while hosts stop.
    Promise.all([hosts.stopAll(), connections.close(CLOSE_GRACE_PERIOD)]).then(() => {
      log('manager stopped');
      resolveStopped();
    });
  }

  return {listen, status, stop, stopped, signalHosts: hosts.signalAll};
}

module.exports = {createManager};
