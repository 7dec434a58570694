'use strict';
// Watches a host's source files, for restartOnChange. The directories are watched, not the
// files: editors save by writing a new file and renaming it over the old one, which would
// end a watch on the old file. One save is often several events, hence the debounce.

const fs = require('node:fs');
const path = require('node:path');

const DEBOUNCE = 100;

// Calls onChange(files) once changes settle, with the changed files (a directory when the
// platform did not say which file). Returns {close()}.
function watchSourceFiles(files, onChange) {
  const namesByDir = new Map();
  for (const file of files) {
    const dir = path.dirname(file);
    if (!namesByDir.has(dir)) namesByDir.set(dir, new Set());
    namesByDir.get(dir).add(path.basename(file));
  }
  const changed = new Set();
  let timer = null;
  const report = () => {
    const files = [...changed].sort();
    changed.clear();
    onChange(files);
  };
  const watchers = [];
  for (const [dir, names] of namesByDir) {
    let watcher;
    try {
      // Not persistent: a watch never keeps the manager alive.
      watcher = fs.watch(dir, {persistent: false}, (event, name) => {
        if (name !== null && !names.has(String(name))) return;
        changed.add(name === null ? dir : path.join(dir, String(name)));
        clearTimeout(timer);
        timer = setTimeout(report, DEBOUNCE);
      });
    } catch {
      // A directory gone since the host loaded its files: the host is stale anyway, and
      // the next restart watches whatever it loads then.
      continue;
    }
    // A watched directory removed later ends its watch with an error: nothing to recover.
    watcher.on('error', () => watcher.close());
    watchers.push(watcher);
  }
  return {
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

module.exports = {watchSourceFiles};
