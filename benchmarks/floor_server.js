'use strict';
// The floor of benchmarks/calls.py: the least an HTTP + JSON call from Python to Node can
// cost. node:http, read the body, JSON.parse it, call the function from functions.js,
// answer with Content-Length. No routing table, no hash check, no logging, no error
// attribution: what any library doing this job pays at least.
//
//     node benchmarks/floor_server.js [PORT]    (0 or nothing: a free port)
//     node benchmarks/floor_server.js PATH      (a Unix socket at PATH, replaced if there)
//
// Prints {"port": N, "pid": P} (or {"socket": PATH, "pid": P}) as its first stdout line
// once listening; SIGTERM stops it.

const fs = require('node:fs');
const http = require('node:http');

const functions = require('./functions');

const FUNCTION_PATH = '/function/';

const server = http.createServer({noDelay: true}, (req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let status = 200;
    let type;
    let body;
    try {
      const fn = functions[req.url.slice(FUNCTION_PATH.length)];
      if (!req.url.startsWith(FUNCTION_PATH) || typeof fn !== 'function') {
        status = 404;
        throw new Error(`no function at ${req.url}`);
      }
      const output = fn(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      if (typeof output === 'string') {
        type = 'text/plain; charset=utf-8';
        body = output;
      } else {
        type = 'application/json';
        body = JSON.stringify(output);
      }
    } catch (err) {
      if (status === 200) status = 500;
      type = 'application/json';
      body = JSON.stringify({name: err.name, message: err.message});
    }
    res.writeHead(status, {'Content-Type': type, 'Content-Length': Buffer.byteLength(body)});
    res.end(body);
  });
});

// Rounds leave a client idle for seconds (while slower contestants run): keep its
// connection open, as the host does.
server.keepAliveTimeout = 60 * 1000;
server.headersTimeout = 65 * 1000;

const where = process.argv[2] || '0';
if (/^\d+$/.test(where)) {
  server.listen(Number(where), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({port: server.address().port, pid: process.pid})}\n`);
  });
} else {
  fs.rmSync(where, {force: true});
  server.listen(where, () => {
    process.stdout.write(`${JSON.stringify({socket: where, pid: process.pid})}\n`);
  });
}

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
