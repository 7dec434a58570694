'use strict';
// What a manager's private directory keeps from managers before it: one logfile per config
// file ever run, and the sockets of hosts whose manager was killed (their names end in that
// manager's pid). A manager sweeps them as it starts: logfiles not written for a week, and
// sockets of managers that are gone.

const fs = require('node:fs');
const path = require('node:path');

const {isProcessAlive} = require('./process-alive');

const LOGFILE_KEPT_FOR = 7 * 24 * 60 * 60 * 1000;
const HOST_LOGFILE = /^host-.*\.log$/;
const HOST_SOCKET = /^host-[0-9a-f]+-(\d+)\.sock$/;

// Returns the names it removed. `now` is for tests.
function sweepRunDir(runDir, {now = Date.now()} = {}) {
  const removed = [];
  for (const name of fs.readdirSync(runDir)) {
    const file = path.join(runDir, name);
    let stale = false;
    try {
      if (HOST_LOGFILE.test(name)) {
        stale = now - fs.lstatSync(file).mtimeMs > LOGFILE_KEPT_FOR;
      } else {
        const socket = HOST_SOCKET.exec(name);
        stale = socket !== null && Number(socket[1]) !== process.pid && !isProcessAlive(Number(socket[1]));
      }
      if (stale) {
        fs.unlinkSync(file);
        removed.push(name);
      }
    } catch {
      // Gone already, or not ours to remove: the next sweep looks again.
    }
  }
  return removed;
}

module.exports = {sweepRunDir, LOGFILE_KEPT_FOR};
