'use strict';
// Contestant (a) of benchmarks/ssr.py: the catalog page rendered by a bare node:http server,
// renderToString and nothing else, on node:cluster with one worker per core. Its page is the
// Django site's frame around the same component, with the props for hydration as Django's
// json_script writes them (<, > and & escaped).
//
//   node node_server.js --port N --data items.json [--workers N]
// Prints "listening, NODE_ENV=..." once every worker listens; SIGTERM stops the primary and its workers.

const cluster = require('node:cluster');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const {parseArgs} = require('node:util');

const {values} = parseArgs({options: {port: {type: 'string'}, data: {type: 'string'}, workers: {type: 'string'}}});
const workers = Number(values.workers ?? os.availableParallelism());

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('listening', () => {
      listening += 1;
      // React read NODE_ENV as it loaded: ssr.py checks that it is the mode asked for.
      if (listening === workers) process.stdout.write(`listening, NODE_ENV=${process.env.NODE_ENV}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers)) worker.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const {renderCatalog} = require('./catalog');
  const items = JSON.parse(fs.readFileSync(values.data, 'utf8'));
  const ESCAPES = {'<': '\\u003C', '>': '\\u003E', '&': '\\u0026'};
  const page = (props) =>
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Catalog</title>' +
    '<link rel="stylesheet" href="/static/catalog.css"></head>\n<body>\n' +
    '<nav><a href="/">Home</a> <a href="/catalog/">Catalog</a></nav>\n' +
    `<main id="root">${renderCatalog(props)}</main>\n` +
    `<script id="catalog-props" type="application/json">${JSON.stringify(props).replace(/[<>&]/g, (c) => ESCAPES[c])}</script>\n` +
    '<script src="/static/catalog.js" defer></script>\n</body>\n</html>\n';
  http
    .createServer((req, res) => {
      const body = page({title: 'Catalog', items});
      res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body)});
      res.end(body);
    })
    .listen(Number(values.port), '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
