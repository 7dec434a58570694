'use strict';
// The source files behind a host: every file its config loaded. A host is stale when any
// of them changed since it started, not only the config file itself; their hash (the
// recipe is protocol.js's sourceHash, which Python recomputes) is taken over them in the
// order listed here, sorted.

const path = require('node:path');

// Sorted by code point (the order of their UTF-8 bytes), which is what Python's sorted()
// gives for str; JavaScript's default sort compares UTF-16 code units and can differ.
function sortPaths(paths) {
  return [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

// Installed packages change through npm, not through editing: watching them would only
// cost file handles.
function isInstalledPackage(file) {
  return file.split(path.sep).includes('node_modules');
}

// `cachedBefore`: the require.cache keys from just before require(configFile). The config
// file is listed even if something had already loaded it.
function sourceFilesLoadedSince(cachedBefore, configFile) {
  const loaded = Object.keys(require.cache).filter((file) => !cachedBefore.has(file));
  return sortPaths(new Set([configFile, ...loaded].filter((file) => !isInstalledPackage(file))));
}

module.exports = {sourceFilesLoadedSince};
