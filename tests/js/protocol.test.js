'use strict';
// The wire protocol Python speaks: routing, names, hashes, argument parsing, function
// styles and how outputs are encoded. One host serves the whole file.

const assert = require('node:assert/strict');
const http = require('node:http');
const {after, before, describe, test} = require('node:test');

const {fixture, sha1, startHost, waitFor} = require('./helpers');

const FUNCTIONS_CONFIG = fixture('functions.config.js');

let host;
before(async () => {
  host = await startHost(FUNCTIONS_CONFIG);
});
after(async () => {
  await host?.stop();
});

// Every reply is sized, never chunked, and errors are JSON with a name and a message.
function assertSized(res) {
  assert.equal(res.headers['content-length'], String(res.body.length));
  assert.equal(res.headers['transfer-encoding'], undefined);
}

function assertRefused(res, status, name, messagePattern) {
  assertSized(res);
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers['content-type'], 'application/json');
  const body = res.json();
  assert.deepEqual(Object.keys(body), ['name', 'message']);
  assert.equal(body.name, name);
  assert.match(body.message, messagePattern);
}

describe('GET /status', () => {
  test('has the shape Python validates', async () => {
    const res = await host.request({method: 'GET', path: '/status'});
    assertSized(res);
    const status = res.json();
    assert.deepEqual(Object.keys(status), ['type', 'version', 'pid', 'node', 'nodeEnv', 'config']);
    assert.deepEqual(Object.keys(status.config), [
      'address',
      'port',
      'socket',
      'requestDataLimit',
      'functions',
      'configFile',
      'configHash',
      'configFormat',
      'sourceFiles',
      'sourceHash',
    ]);
    assert.equal(status.node, process.version);
    assert.equal(status.config.port, host.port);
    assert.equal(status.config.address, '127.0.0.1');
    assert.equal(status.config.socket, null);
    assert.deepEqual(status.config.functions, [...status.config.functions].sort());
    assert.match(status.config.configHash, /^[0-9a-f]{40}$/);
    assert.equal(status.config.configFormat, 'commonjs');
  });

  test('refuses other methods with 405 and Allow', async () => {
    const res = await host.request({method: 'POST', path: '/status', body: '{}'});
    assertRefused(res, 405, 'MethodNotAllowed', /GET \/status/);
    assert.equal(res.headers.allow, 'GET');
  });
});

describe('routing and function names', () => {
  test('an unknown path is 404', async () => {
    const res = await host.request({method: 'GET', path: '/nope'});
    assertRefused(res, 404, 'NotFound', /No such path "\/nope"/);
  });

  test('GET on a function is 405 with Allow: POST', async () => {
    const res = await host.request({method: 'GET', path: '/function/hello_world'});
    assertRefused(res, 405, 'MethodNotAllowed', /Use POST/);
    assert.equal(res.headers.allow, 'POST');
  });

  test('an unknown function is 404 and lists the known ones', async () => {
    const res = await host.call('no_such_function');
    assertRefused(res, 404, 'UnknownFunction', /^Unknown function "no_such_function"; this host \(config .*functions\.config\.js\) has: .*hello_world/);
  });

  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    test(`Object.prototype's ${name} is not a function of the host`, async () => {
      const res = await host.call(name);
      assertRefused(res, 404, 'UnknownFunction', new RegExp(`Unknown function "${name}"`));
    });
  }

  for (const name of ['..', '.', '%2F', 'a/b', '', 'hello%5Fworld', 'a%20b']) {
    test(`the raw name ${JSON.stringify(name)} is refused with 400`, async () => {
      const res = await host.request({path: `/function/${name}`, body: '{}'});
      assertRefused(res, 400, 'InvalidFunctionName', /Invalid function name/);
    });
  }

  test('a refusal keeps the connection usable', async () => {
    const agent = new http.Agent({keepAlive: true, maxSockets: 1});
    try {
      const refused = await host.call('no_such_function', {}, {agent});
      assert.equal(refused.status, 404);
      const served = await host.call('hello_world', {}, {agent});
      assert.equal(served.status, 200);
      assert.equal(served.text, 'Hello, World!');
    } finally {
      agent.destroy();
    }
  });
});

describe('the hash parameter', () => {
  test("is the sha1 of the body bytes: Python's example", async () => {
    const body = '{"foo": "bar"}';
    assert.equal(sha1(body), 'bc4919c6adf7168088eaea06e27a5b23f0f9f9da');
    const res = await host.call('echo', null, {body, hash: 'bc4919c6adf7168088eaea06e27a5b23f0f9f9da'});
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), {foo: 'bar'});
  });

  test('a mismatch is 400, so a cache keyed on it cannot be poisoned', async () => {
    const res = await host.call('echo', {foo: 'baz'}, {hash: 'bc4919c6adf7168088eaea06e27a5b23f0f9f9da'});
    assertRefused(res, 400, 'HashMismatch', /not the sha1 of the request body/);
  });

  test('an empty hash is a mismatch too', async () => {
    const res = await host.request({path: '/function/echo?hash=', body: '{}'});
    assertRefused(res, 400, 'HashMismatch', /""/);
  });

  test('may be left out', async () => {
    const res = await host.call('echo', {foo: 'bar'});
    assert.equal(res.status, 200);
  });

  // Python sends exactly ?hash=<hex>; any other form is read as URLSearchParams reads it.
  test('is found in any query, in any case, %-escaped or not', async () => {
    const body = '{"foo": "bar"}';
    const hash = 'bc4919c6adf7168088eaea06e27a5b23f0f9f9da';
    const escaped = [...hash].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    const accepted = [`hash=${hash.toUpperCase()}`, `x=1&hash=${hash}`, `hash=${hash}&hash=0`, `hash=${escaped}`, `x=%26&hash=${hash}`, 'no_hash=1'];
    for (const query of accepted) {
      const res = await host.request({path: `/function/echo?${query}`, body});
      assert.equal(res.status, 200, `${query}: ${res.text}`);
    }
    // The first `hash` counts; `+` and %20 are spaces.
    const refused = [[`hash=0&hash=${hash}`, '"0"'], [`hash=${hash}+`, `"${hash} "`], [`hash=${hash}%20`, `"${hash} "`], ['x=1&hash=', '""']];
    for (const [query, seen] of refused) {
      const res = await host.request({path: `/function/echo?${query}`, body});
      assertRefused(res, 400, 'HashMismatch', new RegExp(`The hash parameter ${seen} `));
    }
  });
});

describe('the JSON body', () => {
  test('an empty body means no keyword arguments', async () => {
    const res = await host.call('echo', null, {body: ''});
    assert.equal(res.status, 200);
    assert.equal(res.text, '{}');
  });

  test('malformed JSON is 400 with what JSON.parse says', async () => {
    const res = await host.call('echo', null, {body: '{"foo": '});
    assertRefused(res, 400, 'InvalidJSON', /^Request body is not valid UTF-8 JSON: .*JSON/);
  });

  test('bytes that are not UTF-8 are 400', async () => {
    const res = await host.call('echo', null, {body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])});
    assertRefused(res, 400, 'InvalidJSON', /not valid UTF-8/);
  });

  for (const [body, type] of [
    ['[1, 2]', 'an array'],
    ['"text"', 'a string'],
    ['40', 'a number'],
    ['null', 'null'],
  ]) {
    test(`a top level that is ${type} is 400`, async () => {
      const res = await host.call('echo', null, {body});
      assertRefused(res, 400, 'InvalidArguments', new RegExp(`must be a JSON object of keyword arguments, got ${type}`));
    });
  }

  test('unicode and emoji round-trip, as JSON and as text', async () => {
    const text = 'Grüße, 世界! 👋🏽 \u2028 "quoted" \\ end';
    const asJson = await host.call('echo', {text});
    assert.deepEqual(asJson.json(), {text});
    const asText = await host.call('echo_text', {text});
    assert.equal(asText.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(asText.text, text);
    assertSized(asText);
  });
});

describe('function styles', () => {
  test('callback style, the seed example', async () => {
    const res = await host.call('hello_world', {name: 'Foo'});
    assert.equal(res.text, 'Hello, Foo!');
  });

  test('async function', async () => {
    const res = await host.call('async_double', {number: 21});
    assert.equal(res.status, 200);
    assert.equal(res.text, '42');
  });

  test('returning a promise', async () => {
    const res = await host.call('promise_upper', {text: 'shout'});
    assert.equal(res.text, 'SHOUT');
  });

  test('a function that declares no callback answers with what it returns, synchronously too', async () => {
    const res = await host.call('shout', {text: 'shout'});
    assert.equal(res.status, 200);
    assert.equal(res.text, 'SHOUT');
    const nothing = await host.call('returns_nothing');
    assert.equal(nothing.status, 200);
    assert.equal(nothing.text, 'null');
  });

  test('an async function that declares a callback answers through the callback', async () => {
    const res = await host.call('async_with_callback');
    assert.equal(res.text, 'from the callback');
  });

  test('`this` has the function name and the host', async () => {
    const res = await host.call('whoami');
    const body = res.json();
    assert.equal(body.name, 'whoami');
    assert.equal(body.hostType, 'Host');
    assert.deepEqual(body.functions, host.status.config.functions);
    assert.equal(body.requestId, null); // no X-Request-ID
  });

  test("this.requestId is the call's X-Request-ID, in its log line too; one that breaks the rule is ignored", async () => {
    const res = await host.call('whoami', {}, {headers: {'X-Request-ID': 'page-42:a/b+c=d'}});
    assert.equal(res.json().requestId, 'page-42:a/b+c=d');
    await waitFor(() => / whoami 200 \d+\.\d\dms id=page-42:a\/b\+c=d\n/.test(host.output.stdout), {what: 'the log line'});
    const failed = await host.call('double', {}, {headers: {'X-Request-ID': 'failing-7'}});
    assert.equal(failed.status, 500);
    await waitFor(() => host.output.stderr.includes(' double 500 id=failing-7: Error: No number was provided\n'), {what: 'the error line'});
    for (const bad of ['two words', 'x'.repeat(201), 'a;b']) {
      const ignored = await host.call('whoami', {}, {headers: {'X-Request-ID': bad}});
      assert.equal(ignored.json().requestId, null, bad);
    }
    await waitFor(() => host.output.stdout.split('\n').filter((line) => / whoami 200 \d+\.\d\dms$/.test(line)).length >= 3, {what: 'lines without an id'});
  });
});

describe('outputs', () => {
  test("a string is text/plain; the seed's double(20) is '40'", async () => {
    const hello = await host.call('hello_world');
    assert.equal(hello.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(hello.text, 'Hello, World!');
    const doubled = await host.call('double', {number: 20});
    assert.equal(doubled.headers['content-type'], 'application/json');
    assert.equal(doubled.text, '40');
  });

  for (const [kind, expected] of [
    ['number', '40'],
    ['null', 'null'],
    ['undefined', 'null'],
    ['true', 'true'],
    ['array', '[1,"two"]'],
  ]) {
    test(`${kind} is JSON: ${expected}`, async () => {
      const res = await host.call('output', {kind});
      assertSized(res);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.text, expected);
    });
  }

  test('an object is JSON', async () => {
    const res = await host.call('echo', {a: [1, {b: null}]});
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.text, '{"a":[1,{"b":null}]}');
  });

  for (const [kind, bytes] of [
    ['buffer', [0, 1, 2, 255]],
    ['uint8array', [9, 8, 7]],
  ]) {
    test(`a ${kind} is application/octet-stream`, async () => {
      const res = await host.call('output', {kind});
      assertSized(res);
      assert.equal(res.headers['content-type'], 'application/octet-stream');
      assert.deepEqual([...res.body], bytes);
    });
  }

  for (const name of ['circular', 'bigint']) {
    test(`an output JSON cannot encode (${name}) is a function error`, async () => {
      const res = await host.call(name);
      assert.equal(res.status, 500);
      const body = res.json();
      assert.equal(body.name, 'TypeError');
      assert.match(body.message, /^Cannot send the output as JSON: /);
      assert.equal(body.function, name);
    });
  }
});
