'use strict';
// The JS functions every contestant of calls.py runs: plain synchronous functions of one
// object of keyword arguments. The host wraps them in its callback style, the floor server
// calls them directly, and the embedded peers (mini-racer, PyExecJS) load this same source.

// Workload 1: a trivial call.
function hello(data) {
  return 'Hello, ' + data.name;
}

// Workload 2: ~100 KB of objects in and out. A small change to every object, so the
// answer has really been parsed and serialized again rather than echoed as bytes.
function transform(data) {
  return data.items.map((item) => ({
    id: item.id,
    name: item.name.toUpperCase(),
    tags: item.tags,
    score: item.score + 1,
  }));
}

module.exports = {hello, transform};
