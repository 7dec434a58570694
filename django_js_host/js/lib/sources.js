'use strict';
// The source files behind a host: every file its config loaded, and one hash over their
// content. A host is stale when any of them changed since it started, not only the config
// file itself. Python recomputes sourceHash() byte for byte, so the recipe is protocol:
// sha1 hex over, for each path in sorted order, `path + "\0" + sha1 hex of the file's
// bytes + "\n"`, with "missing" instead of the file's sha1 when it cannot be read.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

function sha1(bytes) {
  return crypto.createHash('sha1').update(bytes).digest('hex');
}

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

function fileDigest(file) {
  try {
    return sha1(fs.readFileSync(file));
  } catch {
    return 'missing';
  }
}

function sourceHash(paths) {
  const hash = crypto.createHash('sha1');
  for (const file of sortPaths(paths)) hash.update(`${file}\0${fileDigest(file)}\n`);
  return hash.digest('hex');
}

module.exports = {sourceFilesLoadedSince, sourceHash};
