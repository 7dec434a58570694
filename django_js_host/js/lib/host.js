'use strict';
// The host: a tiny server over http.createServer answering GET /status and
// POST /function/<name>, on TCP or a Unix socket. It owns no process-wide concern (argv,
// signals, exit codes, process error handlers) so the CLI, a node:cluster worker and the
// manager can reuse it.

const http = require('node:http');
const net = require('node:net');
const {performance} = require('node:perf_hooks');

const {checkBatchArguments, runBatch, batchFailedBody} = require('./batch');
const {readBody, parseJsonBody, isJsonObject, createReplies} = require('./body');
const {describeType} = require('./config');
const {createGuard} = require('./guard');
const {CallContext, callFunction, describeFunctionError} = require('./invoke');
const {timestamp} = require('./log');
const {encodeOutput, unsendable} = require('./output');
const {isStream, readWhole, sendStream} = require('./stream');
const {
  STATUS_PATH,
  FUNCTION_PATH,
  BATCH_PATH,
  STREAM_PATH,
  STREAM_TYPE,
  HASH_PARAMETER,
  JSON_TYPE,
  CALLABLE_NAME,
  isCallableName,
  isRequestId,
  sha1,
} = require('./protocol');
const {trackConnections} = require('./shutdown');
const {listenOnSocket} = require('./unix-socket');
const {version} = require('../package.json');

const HASH_PREFIX = `${HASH_PARAMETER}=`;

// What a function request is: a call, a batch of calls, or a call whose answer may come in pieces.
const CALL = 'call';
const BATCH = 'batch';
const STREAM = 'stream';

// With a streamed answer. X-Accel-Buffering: nginx (as ROOT_URL, say) passes each chunk on as
// it comes instead of holding the answer back until its end.
const STREAM_HEADERS = {'X-Accel-Buffering': 'no'};

// Answers whose stream failed midway, which the host closes unended on purpose: their close
// is no caller going away.
const cutByTheirError = new WeakSet();

// Python keeps connections in a pool and checks for our FIN before reusing one: a long
// keep-alive saves reconnecting between calls that are seconds apart.
const KEEP_ALIVE_TIMEOUT = 60 * 1000;
// How often node checks headersTimeout and requestTimeout (its default, 30 s, would let a
// trickled request live 30 s past its limit).
const TIMEOUT_CHECK_INTERVAL = 1000;

// The `hash` query parameter, or null. Python sends exactly `hash=<hex>`, which is read as
// it is; any other query (several parameters, %-escapes, `+`) goes through URLSearchParams,
// so both ways give the same value.
function hashParameter(query) {
  if (query === '') return null;
  if (query.startsWith(HASH_PREFIX) && !/[&%+]/.test(query)) return query.slice(HASH_PREFIX.length);
  return new URLSearchParams(query).get(HASH_PARAMETER);
}

// An error for the log: its stack, or its name and message when it has none.
function errorText(error) {
  return error.stack || `${error.name}: ${error.message}`;
}

// The kwargs of a single call, or a message saying what is wrong with the body.
function checkCallArguments(data) {
  if (isJsonObject(data)) return {data};
  return {problem: `Request body must be a JSON object of keyword arguments, got ${describeType(data)}`};
}

// What GET /status answers; `js-host --config` prints it without listening. A host on a
// socket has no address and port. Never the token.
function hostStatus(config, port) {
  const onSocket = config.socket !== null;
  return {
    type: 'Host',
    version,
    pid: process.pid,
    node: process.version,
    // null: libraries run their development builds (see js-host.js's listening line).
    nodeEnv: process.env.NODE_ENV || null,
    config: {
      address: onSocket ? null : config.address,
      port: onSocket ? null : port,
      socket: config.socket,
      requestDataLimit: config.requestDataLimit,
      functions: [...config.functions.keys()].sort(),
      configFile: config.configFile,
      configHash: config.configHash,
      configFormat: config.configFormat,
      // As of now: a function may have loaded more since the config did.
      ...config.sources.current(),
    },
  };
}

function formatAddress(address, port) {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

// Where a host listens, for messages: `unix:/path` or `address:port`.
function describeLocation({socket, address, port}) {
  return socket === null ? formatAddress(address, port) : `unix:${socket}`;
}

// `config` is what loadConfig() returns. `logger` is log.js's (info/error). `statusExtras`:
// more fields for GET /status (a --workers worker tells about its cluster). `bindSocket`:
// how to listen on config.socket, unix-socket.js's listenOnSocket(server, path, mode) unless
// the caller has its own way (a --workers worker).
function createHost(config, {logger, statusExtras, bindSocket = listenOnSocket}) {
  const functionNames = [...config.functions.keys()].sort();
  const guard = createGuard(config);
  const server = http.createServer({noDelay: true, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL}, handleRequest);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT;
  // For a request to arrive (an idle kept-alive connection is not timed by them, only by
  // keepAliveTimeout); how long a function runs is Python's timeout to limit, not these.
  server.headersTimeout = config.headersTimeout;
  server.requestTimeout = config.requestTimeout;
  server.maxConnections = config.maxConnections;
  const connections = trackConnections(server);
  // Every answer goes out through these (body.js).
  const replies = createReplies(connections, {writeTimeout: config.writeTimeout});
  const {reply, replyJson} = replies;

  const host = {config, server, listen, close, status, location};

  function status() {
    const port = config.socket === null && server.listening ? server.address().port : config.port;
    return {...hostStatus(config, port), ...statusExtras};
  }

  // `unix:/path`, or `address:port` with the port listened on once listening.
  function location() {
    return describeLocation({...config, port: status().config.port});
  }

  // Resolves with server.address() once listening; rejects with the listen error.
  async function listen() {
    if (config.socket !== null) {
      await bindSocket(server, config.socket, config.socketMode);
      return server.address();
    }
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.address, () => {
        server.off('error', reject);
        resolve(server.address());
      });
    });
  }

  // Resolves with the number of connections cut after the grace period.
  function close(gracePeriod = config.shutdownGracePeriod) {
    return connections.close(gracePeriod);
  }

  // GET /status is not logged: Python asks for it on every connect.
  function logCall(label, statusCode, started, note = '') {
    logger.infoBatched(`${timestamp()} ${label} ${statusCode} ${(performance.now() - started).toFixed(2)}ms${note}`);
  }

  function refuse(req, res, started, label, statusCode, name, message, headers) {
    replies.refuse(req, res, statusCode, {name, message}, headers, () => logCall(label, statusCode, started));
  }

  function handleRequest(req, res) {
    const started = performance.now();
    const {url} = req;
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const query = queryStart === -1 ? '' : url.slice(queryStart + 1);
    const refused = guard(req);
    if (refused !== null) {
      const {statusCode, name, message, detail} = refused;
      replies.refuse(req, res, statusCode, {name, message}, undefined, () =>
        logCall(`${req.method} ${path}`, statusCode, started, ` ${name}: ${detail}`),
      );
      return;
    }
    if (path.startsWith(FUNCTION_PATH)) {
      handleFunctionRequest(req, res, started, path.slice(FUNCTION_PATH.length), query, CALL);
    } else if (path.startsWith(BATCH_PATH)) {
      handleFunctionRequest(req, res, started, path.slice(BATCH_PATH.length), query, BATCH);
    } else if (path.startsWith(STREAM_PATH)) {
      handleFunctionRequest(req, res, started, path.slice(STREAM_PATH.length), query, STREAM);
    } else if (path === STATUS_PATH) {
      if (req.method === 'GET') replyJson(res, 200, status());
      else refuse(req, res, started, `${req.method} ${path}`, 405, 'MethodNotAllowed', 'Use GET /status', {Allow: 'GET'});
    } else {
      const message = `No such path ${JSON.stringify(path)}: this host answers GET /status, POST /function/<name>, POST /batch/<name> and POST /stream/<name>`;
      refuse(req, res, started, `${req.method} ${path}`, 404, 'NotFound', message);
    }
  }

  // `name` is the raw path segment: it is checked, never percent-decoded, so what the
  // client (and a cache keyed on the URL) sees is exactly the function that runs.
  // `kind`: CALL, BATCH (many calls in one request, batch.js) or STREAM (an answer that may
  // come in pieces, stream.js).
  function handleFunctionRequest(req, res, started, name, query, kind) {
    const batch = kind === BATCH;
    if (req.method !== 'POST') {
      const message = batch
        ? `Use POST /batch/${name} with a JSON array of keyword-argument objects as the body`
        : `Use POST ${kind === STREAM ? STREAM_PATH : FUNCTION_PATH}${name} with a JSON object of keyword arguments as the body`;
      refuse(req, res, started, name, 405, 'MethodNotAllowed', message, {Allow: 'POST'});
      return;
    }
    if (!isCallableName(name)) {
      const message = `Invalid function name ${JSON.stringify(name)}: names match ${CALLABLE_NAME} (not percent-encoded) and are not '.' or '..'`;
      refuse(req, res, started, JSON.stringify(name), 400, 'InvalidFunctionName', message);
      return;
    }
    const fn = config.functions.get(name);
    if (!fn) {
      const known = functionNames.length ? `has: ${functionNames.join(', ')}` : 'has no functions';
      const message = `Unknown function "${name}"; this host (config ${config.configFile}) ${known}`;
      refuse(req, res, started, name, 404, 'UnknownFunction', message);
      return;
    }
    // `this` inside the function: its name, the host (status(), config), the call's request
    // id (X-Request-ID; null without one) and its signal. One for all the calls of a batch,
    // which share their connection and id.
    const header = req.headers['x-request-id'];
    const context = new CallContext(name, host, isRequestId(header) ? header : null);
    res.once('close', () => {
      if (!res.writableFinished && !cutByTheirError.has(res)) {
        CallContext.abort(context);
        const waited = (performance.now() - started).toFixed(2);
        logger.error(`${timestamp()} warning: ${name}${idNote(context)}: the connection closed after ${waited}ms, before the answer`);
      }
    });
    readBody(req, config.requestDataLimit, (body) => {
      if (body === null) {
        const message = `Request body is over this host's requestDataLimit of ${config.requestDataLimit} bytes`;
        replyJson(res, 413, {name: 'RequestTooLarge', message}, {Connection: 'close'});
        logCall(name, 413, started);
        return;
      }
      const check = batch ? checkBatchArguments : checkCallArguments;
      const data = parseArguments(res, started, name, body, hashParameter(query), check);
      if (data === undefined) return;
      if (batch) {
        runBatch(fn, data, context, warn, (failures, results) => answerBatch(res, started, context, data.length, failures, results));
      } else {
        const streamed = kind === STREAM;
        callFunction(fn, data, context, (error, output) => answer(res, started, context, error, output, streamed), warn);
      }
    });
  }

  // Returns what `check` makes of the JSON body (the kwargs, or a batch's list of them),
  // or undefined after answering 400.
  function parseArguments(res, started, name, body, hash, check) {
    let problem;
    const digest = hash === null ? null : sha1(body);
    if (hash !== null && hash.toLowerCase() !== digest) {
      problem = [
        'HashMismatch',
        `The hash parameter ${JSON.stringify(hash)} is not the sha1 of the request body (${digest}); a cache keyed on it would serve a wrong answer`,
      ];
    } else {
      try {
        const {data, problem: invalid} = check(parseJsonBody(body, config.maxJsonDepth));
        if (invalid === undefined) return data;
        problem = ['InvalidArguments', invalid];
      } catch (err) {
        problem = [err.name, err.message];
      }
    }
    replyJson(res, 400, {name: problem[0], message: problem[1]});
    logCall(name, 400, started);
    return undefined;
  }

  // ` id=<request id>` for the call's log lines, or nothing.
  function idNote({requestId}) {
    return requestId === null ? '' : ` id=${requestId}`;
  }

  // `streamed`: the request may be answered in pieces (POST /stream/<name>). A stream
  // output to one that may not is read whole first.
  function answer(res, started, context, error, output, streamed) {
    if (!error && isStream(output)) {
      if (streamed) answerStream(res, started, context, output);
      else answerWhole(res, started, context, output);
      return;
    }
    const {name} = context;
    let statusCode = 200;
    let contentType;
    let body;
    if (!error) {
      try {
        [contentType, body] = encodeOutput(output);
      } catch (err) {
        error = unsendable(err);
      }
    }
    if (error) {
      statusCode = 500;
      contentType = JSON_TYPE;
      body = JSON.stringify({...error, function: name});
      logger.error(`${timestamp()} ${name} 500${idNote(context)}: ${errorText(error)}`);
    }
    const sent = reply(res, statusCode, contentType, body);
    logCall(name, statusCode, started, `${idNote(context)}${sent ? '' : ' (connection closed: answer dropped)'}`);
  }

  function answerWhole(res, started, context, stream) {
    readWhole(stream, context.signal).then(
      (text) => {
        if (text === undefined) logCall(context.name, 200, started, `${idNote(context)} (connection closed: stream cancelled)`);
        else answer(res, started, context, null, text, false);
      },
      (err) => answer(res, started, context, describeFunctionError(err), undefined, false),
    );
  }

  async function answerStream(res, started, context, stream) {
    const {name} = context;
    const sent = await sendStream(res, stream, {
      signal: context.signal,
      writeHead: () => replies.writeChunkedHead(res, 200, STREAM_TYPE, STREAM_HEADERS),
      describeError: (thrown) => ({...describeFunctionError(thrown), function: name}),
      writeTimeout: config.writeTimeout,
    });
    const {outcome, chunks} = sent;
    if (outcome === 'failed early') {
      answer(res, started, context, describeFunctionError(sent.thrown), undefined, false);
    } else if (outcome === 'failed') {
      cutByTheirError.add(res);
      logger.error(`${timestamp()} ${name} 500 after ${chunks} chunks of its stream${idNote(context)}: ${errorText(sent.error)}`);
      logCall(name, 200, started, `${idNote(context)} stream of ${chunks} chunks cut by its error`);
    } else {
      const note = outcome === 'ended' ? ` stream of ${chunks} chunks` : ` (connection closed: stream cancelled after ${chunks} chunks)`;
      logCall(name, 200, started, idNote(context) + note);
    }
  }

  function answerBatch(res, started, context, total, failures, results) {
    const label = `${context.name} (batch of ${total})`;
    let sent;
    if (failures.length === 0) {
      sent = reply(res, 200, JSON_TYPE, results);
    } else {
      // The first failure's stack, as for a single call; the rest are in the answer.
      const {index, error} = failures[0];
      const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : '';
      logger.error(`${timestamp()} ${label} call ${index} 500${more}${idNote(context)}: ${errorText(error)}`);
      sent = reply(res, 500, JSON_TYPE, batchFailedBody(context.name, total, failures, results));
    }
    logCall(label, failures.length ? 500 : 200, started, `${idNote(context)}${sent ? '' : ' (connection closed: answer dropped)'}`);
  }

  function warn(message, error) {
    const detail = error ? `\n${errorText(error)}` : '';
    logger.error(`${timestamp()} warning: ${message}${detail}`);
  }

  return host;
}

module.exports = {createHost, hostStatus, formatAddress, describeLocation};
