'use strict';
// Runs one call of a user function, in either style, and makes sure the call answers once.
//
// Each call runs inside `callStore` (AsyncLocalStorage), so an error that escapes later from
// a timer, callback or promise the function started is traced back to its call and answered
// as a 500 instead of crashing the host. AsyncLocalStorage's store is still in place inside
// the 'uncaughtException' and 'unhandledRejection' handlers on Node 18, 20, 22 and 24 (the
// handlers run in the async context of the failing callback / rejected promise).
// One gap on Node < 24: a throw inside queueMicrotask() loses the store, so it counts as
// belonging to no call.

const {AsyncLocalStorage} = require('node:async_hooks');
const {types} = require('node:util');

const callStore = new AsyncLocalStorage();

// The error as the JSON body of a 500 carries it; thrown values that are not Errors
// (throw 'x', cb('x')) still need a name, message and stack.
function describeFunctionError(thrown) {
  if (thrown instanceof Error || types.isNativeError(thrown)) {
    return {name: String(thrown.name), message: String(thrown.message), stack: String(thrown.stack ?? '')};
  }
  let message;
  try {
    message = String(thrown);
  } catch {
    message = Object.prototype.toString.call(thrown);
  }
  return {name: 'Error', message, stack: ''};
}

// Why a call's signal aborts: its caller stopped waiting.
const CONNECTION_CLOSED = 'The connection closed before the answer: the caller stopped waiting (its timeout, or its client went away)';

// `this` of a call: its name, the host, and `signal`, an AbortSignal aborted when the
// request's connection closes before the answer. The AbortController is made on first use
// of `signal` only: most functions never look, and a call should not pay for one.
class CallContext {
  #controller = null;
  #abortReason = null;

  // requestId: the call's X-Request-ID, or null without one.
  constructor(name, host, requestId) {
    this.name = name;
    this.host = host;
    this.requestId = requestId;
  }

  get signal() {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#abortReason !== null) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  // A static method, so that a function cannot abort its own call through `this`.
  static abort(context) {
    if (context.#abortReason !== null) return;
    context.#abortReason = new DOMException(CONNECTION_CLOSED, 'AbortError');
    if (context.#controller !== null) context.#controller.abort(context.#abortReason);
  }
}

function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
}

class FunctionCall {
  // answer(error, output): error is null or describeFunctionError()'s result.
  // warn(message, error) reports what arrives after the call has answered.
  constructor(name, answer, warn) {
    this.name = name;
    this.answer = answer;
    this.warn = warn;
    this.answeredBy = null;
    // util.promisify's rule: any truthy first argument is an error.
    this.callback = (err, output) => {
      if (err) this.fail(err, 'callback');
      else this.succeed(output, 'callback');
    };
  }

  succeed(output, source) {
    if (this.settle(source, null)) this.answer(null, output);
  }

  fail(thrown, source) {
    const error = describeFunctionError(thrown);
    if (this.settle(source, error)) this.answer(error, undefined);
  }

  settle(source, error) {
    if (this.answeredBy === null) {
      this.answeredBy = source;
      return true;
    }
    this.warn(`function "${this.name}" already answered (by its ${this.answeredBy}); ignoring a later ${source}`, error);
    return false;
  }
}

// A function that declares a callback, `fn(data, cb)`, answers through cb(err, output);
// one that does not, `fn(data)`, with what it returns, a value or a thenable. An async
// function that declares a callback (`async (data, cb) => ...`) answers through cb, or through
// its promise if that resolves to something other than undefined (which would answer null
// before cb). fn.length counts the parameters before the first with a default value.
function runFunction(fn, data, context, call) {
  try {
    const answersThroughCallback = fn.length >= 2;
    const returned = fn.call(context, data, call.callback);
    if (!isThenable(returned)) {
      if (!answersThroughCallback) call.succeed(returned, 'return value');
      return;
    }
    Promise.resolve(returned).then(
      (output) => {
        if (!(answersThroughCallback && output === undefined)) call.succeed(output, 'returned promise');
      },
      (err) => call.fail(err, 'rejected promise'),
    );
  } catch (err) {
    call.fail(err, 'thrown error');
  }
}

function callFunction(fn, data, context, answer, warn) {
  const call = new FunctionCall(context.name, answer, warn);
  callStore.run(call, runFunction, fn, data, context, call);
}

// Installs the process-wide handlers that give escaped errors back to their call.
// An uncaught exception that belongs to no call (a timer or microtask left behind by a call
// that has answered, a signal handler) is reported by onStrayException: ending the host for
// it would cut every call in flight, for an error none of them made. A stray rejection is
// reported by onStray.
function attributeEscapedErrors({onStrayException, onStray}) {
  process.on('uncaughtException', (err) => {
    const call = callStore.getStore();
    if (call) call.fail(err, 'uncaught exception');
    else onStrayException(err);
  });
  process.on('unhandledRejection', (reason) => {
    const call = callStore.getStore();
    if (call) call.fail(reason, 'unhandled promise rejection');
    else onStray(reason);
  });
}

module.exports = {CallContext, callFunction, attributeEscapedErrors, describeFunctionError};
