'use strict';
// The host of benchmarks/ssr.py: one function, the catalog of catalog.js. ssr.py writes a
// config next to its socket that adds `socket` to this one.
const {renderCatalog} = require('./catalog');

module.exports = {
  functions: {
    render_catalog({props}, cb) {
      cb(null, renderCatalog(props));
    },
  },
};
