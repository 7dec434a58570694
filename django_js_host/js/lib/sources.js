'use strict';
// The source files behind a host: every file it loaded for its config, as it started or
// later (a function's lazy require() or import()), outside node_modules and the host's own
// code. A host is stale when one of them changed since it was loaded. Their hash (protocol.js's
// recipe, which Python recomputes from the files on disk) is taken over the digests the
// files had when they were loaded, in the order listed here, sorted.
//
// Node's own loader names the files, so whatever it resolves (exports maps, conditions,
// symlinks, TypeScript) is followed without parsing a line. From the best the running Node has:
// - module.registerHooks (Node >= 22.15, 23.5): a synchronous load hook in this thread sees
//   each file require() or import loads, as it loads it;
// - module.register (Node >= 18.19, 20.6): a load hook on Node's loader thread
//   (source-hooks.mjs) sees what import loads and posts each file here; require() does not
//   pass through it (nor through the ES modules a require() of one imports), so
//   require.cache is read for those: once the config has loaded, on every current(), and
//   every CACHE_POLL_INTERVAL in a host that reports to a manager. The thread costs ~35 ms
//   and ~13 MB, so it starts only where imports are to be followed (followImports()): for an
//   ES module config, and in a managed host, whose manager watches what it loads;
// - neither: require.cache alone; of the ES modules, only the config file is known.

const module_ = require('node:module');
const path = require('node:path');
const {fileURLToPath, pathToFileURL} = require('node:url');
const {MessageChannel} = require('node:worker_threads');

const {MANAGED_HOST_ENV} = require('./orphan');
const {digestsHash, fileDigest} = require('./protocol');

const OWN_CODE = path.resolve(__dirname, '..') + path.sep;
const SOURCE_HOOKS = pathToFileURL(path.join(__dirname, 'source-hooks.mjs'));
const CACHE_POLL_INTERVAL = 250;
// What a managed host sends its manager over their IPC channel: {type, sourceFiles, sourceHash}.
const SOURCES_MESSAGE = 'js-host:sources';

// Sorted by code point (the order of their UTF-8 bytes), which is what Python's sorted()
// gives for str; JavaScript's default sort compares UTF-16 code units and can differ.
function sortPaths(paths) {
  return [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

// Installed packages change through npm, not through editing: watching them would only
// cost file handles. The host's own files are not the config's.
function isSourceFile(file) {
  return !file.startsWith(OWN_CODE) && !file.split(path.sep).includes('node_modules');
}

// The process's tracker: the hooks are process-wide and cannot be removed, so there is one.
let tracker = null;

function trackSources() {
  tracker ??= createTracker();
  return tracker;
}

function createTracker() {
  const digests = new Map(); // source file -> its digest when loaded
  const examined = new Set(Object.keys(require.cache)); // loaded before the config: the host's
  const esModules = []; // source files loaded as ES modules, in order (see esModules())
  let snapshot = null;
  let onNewFiles = null;
  let reportPending = false;
  let settle = null; // resolves once the loader thread has posted every load so far
  let pollRequireCache = false;

  function note(file, digest) {
    if (digests.has(file)) return;
    digests.set(file, digest ?? fileDigest(file));
    snapshot = null;
    if (onNewFiles && !reportPending) {
      // A lazy import of a module graph is one report, not one per file.
      reportPending = true;
      setImmediate(() => {
        reportPending = false;
        onNewFiles(current());
      });
    }
  }

  function noteLoaded(url, format) {
    if (!url.startsWith('file:')) return; // node: builtins, data: URLs
    const file = fileURLToPath(url);
    examined.add(file);
    if (!isSourceFile(file)) return;
    if (format === 'module' && !esModules.includes(file)) esModules.push(file);
    note(file);
  }

  function scanRequireCache() {
    for (const file of Object.keys(require.cache)) {
      if (examined.has(file)) continue;
      examined.add(file);
      if (isSourceFile(file)) note(file);
    }
  }

  function current() {
    scanRequireCache();
    if (snapshot === null) {
      const sourceFiles = sortPaths(digests.keys());
      snapshot = {sourceFiles, sourceHash: digestsHash(sourceFiles.map((file) => [file, digests.get(file)]))};
    }
    return snapshot;
  }

  if (typeof module_.registerHooks === 'function') {
    module_.registerHooks({
      load(url, context, nextLoad) {
        const loaded = nextLoad(url, context);
        noteLoaded(url, loaded.format);
        return loaded;
      },
    });
  } else {
    pollRequireCache = true;
  }

  function followImports() {
    if (settle !== null || typeof module_.registerHooks === 'function' || typeof module_.register !== 'function') return;
    const {port1, port2} = new MessageChannel();
    const waiting = new Map(); // sync number -> resolve
    let syncs = 0;
    port1.on('message', ({url, format, synced}) => {
      if (synced === undefined) {
        noteLoaded(url, format);
        return;
      }
      waiting.get(synced)();
      waiting.delete(synced);
      if (waiting.size === 0) port1.unref();
    });
    port1.unref(); // a host exits when it is done, hooks or not
    module_.register(SOURCE_HOOKS, {data: {port: port2}, transferList: [port2]});
    // The loader thread answers a sync after every file it posted before it.
    settle = () =>
      new Promise((resolve) => {
        syncs += 1;
        waiting.set(syncs, resolve);
        port1.ref(); // nothing else may be keeping this process alive meanwhile
        port1.postMessage({sync: syncs});
      });
  }
  if (process.env[MANAGED_HOST_ENV] === '1') followImports();

  return {
    // The config file, with the digest of the bytes that were loaded; listed even if
    // something had loaded it before.
    noteConfig(file, digest) {
      note(file, digest);
    },
    // Before an import: where seeing its modules takes the loader thread, start it.
    followImports,
    // Resolves once every file loaded so far has been noted.
    async settled() {
      await settle?.();
      scanRequireCache();
    },
    // {sourceFiles, sourceHash} as of now.
    current,
    // The source files loaded as ES modules (not TypeScript), in the order they loaded.
    esModules: () => [...esModules],
    // Calls report(current()) after files are loaded from now on.
    reportNewFiles(report) {
      onNewFiles = report;
      if (pollRequireCache) setInterval(scanRequireCache, CACHE_POLL_INTERVAL).unref();
    },
  };
}

// A managed host tells its manager of the files it loads once it has started, which the
// manager then watches too (host-process.js receives them).
function reportSourcesToManager(sources) {
  if (process.env[MANAGED_HOST_ENV] !== '1' || !process.send) return;
  sources.reportNewFiles((current) => {
    // A manager that is gone has no use for it: the callback takes the error.
    if (process.connected) process.send({type: SOURCES_MESSAGE, ...current}, () => {});
  });
}

module.exports = {SOURCES_MESSAGE, trackSources, reportSourcesToManager};
