'use strict';
// The host of benchmarks/ssr.py: the catalog of catalog.js. ssr.py writes a config next to
// its socket that adds `socket` to this one.
const {performance} = require('node:perf_hooks');
const {renderCatalog} = require('./catalog');

// What render_catalog_cpu_only answers, and how long it spins for: set on its first call.
let rendered = null;
let renderMs = 0;

// The median time of renderCatalog(props) run `times` times in a row, alone, in ms.
function medianRenderMs(props, times = 201) {
  const durations = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    renderCatalog(props);
    durations.push(performance.now() - started);
  }
  return durations.sort((a, b) => a - b)[(times - 1) / 2];
}

module.exports = {
  functions: {
    render_catalog({props}, cb) {
      cb(null, renderCatalog(props));
    },
    // ssr.py --decompose: the same call, its props parsed as render_catalog's, but the
    // render's CPU time spent in a loop that touches no memory, answering HTML made once.
    // What the page would cost if React's render did not share the cores' caches with Django.
    render_catalog_cpu_only({props}, cb) {
      if (rendered === null) {
        rendered = renderCatalog(props);
        renderMs = medianRenderMs(props);
      }
      const until = performance.now() + renderMs;
      while (performance.now() < until);
      cb(null, rendered);
    },
  },
};
