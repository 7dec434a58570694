'use strict';
// POST /batch/<name>: many calls of one function in one request. One host serves the file.

const assert = require('node:assert/strict');
const {after, before, describe, test} = require('node:test');

const {fixture, sha1, startHost, waitFor} = require('./helpers');

let host;
before(async () => {
  host = await startHost(fixture('functions.config.js'));
});
after(async () => {
  await host?.stop();
});

function batch(name, calls, {body = JSON.stringify(calls), hash = sha1(body)} = {}) {
  return host.request({path: `/batch/${name}?hash=${hash}`, body});
}

describe('POST /batch/<name>', () => {
  test('answers every call in request order, as values', async () => {
    const calls = [{name: 'a'}, {}, {name: 'ü😀'}];
    const res = await batch('hello_world', calls);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(res.json(), [{value: 'Hello, a!'}, {value: 'Hello, World!'}, {value: 'Hello, ü😀!'}]);
  });

  test('overlapping async calls keep their order', async () => {
    // The first call waits longest, so the calls finish in reverse order.
    const calls = [30, 20, 10, 0].map((ms) => ({ms}));
    const res = await batch('slow', calls);
    assert.deepEqual(res.json(), calls.map(({ms}) => ({value: `waited ${ms}ms`})));
  });

  test('encodes each kind of output as a single call does', async () => {
    const kinds = ['number', 'null', 'undefined', 'true', 'array', 'buffer', 'uint8array'];
    const res = await batch('output', kinds.map((kind) => ({kind})));
    assert.deepEqual(res.json(), [
      {value: 40},
      {value: null},
      {value: null},
      {value: true},
      {value: [1, 'two']},
      {bytes: Buffer.from([0, 1, 2, 255]).toString('base64')},
      {bytes: Buffer.from([9, 8, 7]).toString('base64')},
    ]);
  });

  test('a batch with failed calls is a 500 carrying every result', async () => {
    const res = await batch('double', [{number: 1}, {}, {number: 3}, {}]);
    assert.equal(res.status, 500);
    const body = res.json();
    assert.equal(body.name, 'BatchFailed');
    assert.equal(body.function, 'double');
    assert.match(body.message, /^2 of 4 calls of "double" failed; the first, call 1: Error: No number was provided$/);
    assert.deepEqual(body.results[0], {value: 2});
    assert.equal(body.results[1].error.message, 'No number was provided');
    assert.match(body.results[1].error.stack, /functions\.config\.js/);
    assert.deepEqual(body.results[2], {value: 6});
  });

  test('an output JSON cannot hold fails only its own call', async () => {
    const res = await host.request({path: '/batch/circular', body: '[{}, {}]'});
    assert.equal(res.status, 500);
    const {results} = res.json();
    assert.equal(results.length, 2);
    for (const result of results) assert.match(result.error.message, /^Cannot send the output as JSON: .*circular/);
  });

  test('an empty batch is an empty answer', async () => {
    const res = await batch('hello_world', []);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), []);
  });

  test('refuses a body that is not an array of objects, naming the bad item', async () => {
    let res = await batch('echo', {name: 'x'});
    assert.equal(res.status, 400);
    assert.match(res.json().message, /must be a JSON array of keyword-argument objects, got an object/);
    res = await batch('echo', [{}, [1]]);
    assert.equal(res.status, 400);
    assert.match(res.json().message, /item 1 is an array/);
  });

  test('checks the hash, the name and the method as /function/ does', async () => {
    let res = await batch('echo', [{}], {hash: sha1('something else')});
    assert.equal(res.status, 400);
    assert.equal(res.json().name, 'HashMismatch');
    res = await batch('no_such_function', [{}]);
    assert.equal(res.status, 404);
    assert.match(res.json().message, /Unknown function "no_such_function"/);
    res = await batch('..', [{}]);
    assert.equal(res.status, 400);
    res = await host.request({method: 'GET', path: '/batch/echo'});
    assert.equal(res.status, 405);
    assert.match(res.json().message, /POST \/batch\/echo with a JSON array/);
  });

  test('the host logs one line per batch', async () => {
    await batch('echo', [{}, {}, {}]);
    await waitFor(() => /echo \(batch of 3\) 200 /.test(host.output.stdout), {what: 'the log line'});
  });
});
