'use strict';
// Whether a process still runs, by its pid. The manager asks it of the Python processes that
// hold connections; the tests ask it of the hosts and managers they started.

const fs = require('node:fs');

// Signal 0 only asks whether the pid exists: EPERM means it does, as another user's process.
// A zombie (exited, not yet reaped by its parent: e.g. a detached manager whose new parent
// does not reap) still answers, so on Linux /proc says whether it has really finished.
function isProcessAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

module.exports = {isProcessAlive};
