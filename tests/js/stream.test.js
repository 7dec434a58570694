'use strict';
// POST /stream/<name>: outputs that are streams go out as records as their chunks come; and
// this.signal, aborted when a call's connection closes before its answer. One host serves
// the file.

const assert = require('node:assert/strict');
const http = require('node:http');
const {after, before, describe, test} = require('node:test');

const {STREAM_TYPE, streamPath} = require('../../django_js_host/js/lib/protocol');
const {fixture, startHost, waitFor} = require('./helpers');

let host;
before(async () => {
  host = await startHost(fixture('streams.config.js'));
});
after(async () => {
  await host?.stop();
});

// The records of a streamed answer's body: [[kind, payload as a Buffer], ...].
function parseRecords(body) {
  const records = [];
  let offset = 0;
  while (offset < body.length) {
    const colon = body.indexOf(':', offset);
    const kind = body.toString('latin1', offset, offset + 1);
    const length = Number(body.toString('latin1', offset + 1, colon));
    records.push([kind, body.subarray(colon + 1, colon + 1 + length)]);
    offset = colon + 1 + length;
  }
  return records;
}

function stream(name, kwargs = {}) {
  const body = JSON.stringify(kwargs);
  return host.request({path: streamPath(name, body), body});
}

// The text of an answer's data records, and its last record's kind.
function streamed(res) {
  const records = parseRecords(res.body);
  const text = Buffer.concat(records.filter(([kind]) => kind === 'd').map(([, payload]) => payload)).toString('utf8');
  return {records, text, last: records.at(-1)?.[0]};
}

// Sends a stream request and resolves with {req, res, chunks} once the first body bytes
// are in, leaving the connection open (close it with req.destroy()); `chunks` grows with
// the body.
function openStream(name, kwargs) {
  const body = JSON.stringify(kwargs);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {host: '127.0.0.1', port: host.port, method: 'POST', path: streamPath(name, body), headers: {'content-type': 'application/json'}, agent: false},
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => {
          chunks.push(chunk);
          if (chunks.length === 1) resolve({req, res, chunks});
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function seen(key) {
  return (await host.call('seen', {key})).json();
}

describe('POST /stream/<name>', () => {
  for (const name of ['async_generator', 'node_readable', 'web_stream', 'through_callback']) {
    test(`a ${name} goes out as data records and an end record, chunked`, async () => {
      const res = await stream(name, {parts: ['<p>', 'héllo', ' 😀', '</p>']});
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['content-type'], STREAM_TYPE);
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      assert.equal(res.headers['x-accel-buffering'], 'no');
      const {records, text, last} = streamed(res);
      assert.equal(text, '<p>héllo 😀</p>');
      assert.equal(last, 'z');
      assert.deepEqual(records.at(-1), ['z', Buffer.alloc(0)]);
    });
  }

  test('the first chunk arrives while the stream is still being made', async () => {
    const started = Date.now();
    const {req, chunks} = await openStream('async_generator', {parts: ['one', 'two', 'three'], ms: 300});
    const firstAt = Date.now() - started;
    assert.equal(chunks[0].toString(), 'd3:one');
    assert.ok(firstAt < 600, `first chunk after ${firstAt}ms, not before the second part (at 600ms)`);
    req.destroy();
  });

  test('a chunk split inside a UTF-8 character is passed on as bytes, whole in the end', async () => {
    const {text, last} = streamed(await stream('multibyte_split'));
    assert.equal(text, 'a€b😀c');
    assert.equal(last, 'z');
  });

  test('an empty stream is an end record alone', async () => {
    const res = await stream('empty_stream');
    assert.equal(res.status, 200);
    assert.deepEqual(streamed(res).records, [['z', Buffer.alloc(0)]]);
  });

  test('an output that is not a stream is answered whole, as a call answers it', async () => {
    const res = await stream('not_a_stream');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(res.json(), {whole: true});
  });

  test('an error after the first chunk: an error record with the JS stack, the body left unended, the error logged', async () => {
    for (const [name, errorName, message] of [
      ['fails_mid_stream', 'RangeError', 'the stream broke'],
      ['readable_destroyed_mid_stream', 'Error', 'destroyed with an error'],
      ['bad_chunk', 'TypeError', "A stream's chunks must be strings or bytes (a Buffer or Uint8Array), got a number"],
    ]) {
      const {res, req, chunks} = await openStream(name, {});
      // The host closes the connection without the chunked body's last chunk: node's client
      // calls that an aborted answer, never a complete one.
      const ending = await new Promise((resolve) => {
        res.on('end', () => resolve('end'));
        res.on('aborted', () => resolve('aborted'));
        req.on('error', () => resolve('error'));
      });
      assert.notEqual(ending, 'end', name);
      const records = parseRecords(Buffer.concat(chunks));
      const [kind, payload] = records.at(-1);
      assert.equal(kind, 'e', name);
      const error = JSON.parse(payload.toString());
      assert.equal(error.name, errorName);
      assert.equal(error.message, message);
      assert.equal(error.function, name);
      if (name !== 'bad_chunk') assert.match(error.stack, /streams\.config\.js/);
      await waitFor(() => host.output.stderr.includes(`${name} 500 after 1 chunks of its stream: ${errorName}: ${message}`), {what: `the log of ${name}`});
      await waitFor(() => host.output.stdout.includes(`${name} 200 `), {what: `the call line of ${name}`});
      assert.match(host.output.stdout, new RegExp(`${name} 200 [\\d.]+ms stream of 1 chunks cut by its error`));
    }
    // Closed on purpose: no warning of a caller gone.
    assert.doesNotMatch(host.output.stderr, /warning: (fails_mid_stream|readable_destroyed_mid_stream|bad_chunk): the connection closed/);
    assert.match(host.output.stderr, /fails_mid_stream 500 after 1 chunks of its stream: RangeError: the stream broke\n\s+at .*streams\.config\.js/);
  });

  test('an error before the first chunk is a 500, as for any call', async () => {
    const res = await stream('fails_before_any_chunk');
    assert.equal(res.status, 500);
    assert.equal(res.json().name, 'TypeError');
    assert.equal(res.json().message, 'broke before any chunk');
    assert.match(res.json().stack, /streams\.config\.js/);
  });

  test('a plain call or a batch reads a stream whole, as text', async () => {
    const res = await host.call('node_readable', {parts: ['a', 'ü', 'c']});
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.text, 'aüc');
    assert.equal((await host.call('multibyte_split')).text, 'a€b😀c');
    const failed = await host.call('fails_mid_stream');
    assert.equal(failed.status, 500);
    assert.equal(failed.json().message, 'the stream broke');
    const body = JSON.stringify([{parts: ['x', 'y']}, {}]);
    const batch = await host.request({path: '/batch/async_generator', body: JSON.stringify([{parts: ['x', 'y']}])});
    assert.deepEqual(batch.json(), [{value: 'xy'}], body);
  });

  test('GET is refused naming the stream path', async () => {
    const res = await host.request({method: 'GET', path: '/stream/async_generator'});
    assert.equal(res.status, 405);
    assert.match(res.json().message, /^Use POST \/stream\/async_generator with a JSON object/);
  });
});

describe('this.signal', () => {
  test('is one AbortSignal per call, not aborted while the caller waits', async () => {
    assert.equal((await host.call('same_signal')).text, 'true');
  });

  test('aborts when the connection closes before the answer, and the function stops at once', async () => {
    const req = http.request({host: '127.0.0.1', port: host.port, method: 'POST', path: '/function/loop_until_aborted', headers: {'content-type': 'application/json'}, agent: false});
    req.on('error', () => {});
    req.end(JSON.stringify({key: 'loop'}));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closedAt = Date.now();
    req.destroy();
    await waitFor(async () => (await seen('loop')) !== null, {what: 'the abort'});
    const result = await seen('loop');
    assert.ok(result.abortedAt - closedAt < 100, `aborted ${result.abortedAt - closedAt}ms after the close`);
    assert.ok(result.turns > 10, 'the function ran meanwhile');
    assert.match(result.reason, /^AbortError: The connection closed before the answer/);
  });

  test('does not abort when the connection closes after the answer', async () => {
    assert.equal((await host.call('signal_after_answer', {key: 'after'})).text, 'answered');
    await waitFor(async () => (await seen('after')) !== null, {what: 'the check'});
    assert.deepEqual(await seen('after'), {aborted: false});
  });

  test('a streaming client that goes away destroys the Readable at once', async () => {
    const {req} = await openStream('stream_until_aborted', {key: 'readable'});
    const closedAt = Date.now();
    req.destroy();
    await waitFor(async () => (await seen('readable'))?.closedAt !== undefined, {what: 'the Readable closing'});
    const result = await seen('readable');
    assert.ok(result.abortedAt - closedAt < 100, `aborted ${result.abortedAt - closedAt}ms after the close`);
    assert.ok(result.closedAt - closedAt < 100, `closed ${result.closedAt - closedAt}ms after the close`);
    await waitFor(() => /stream_until_aborted 200 [\d.]+ms \(connection closed: stream cancelled after 1 chunks\)/.test(host.output.stdout), {what: 'the log line'});
  });

  test('a streaming client that goes away ends an async generator through its signal and return()', async () => {
    const {req} = await openStream('generator_until_aborted', {key: 'generator'});
    req.destroy();
    await waitFor(async () => (await seen('generator')) !== null, {what: 'the generator ending'});
    assert.deepEqual(await seen('generator'), {returned: true, aborted: true});
  });
});
