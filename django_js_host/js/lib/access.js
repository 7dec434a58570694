'use strict';
// What keeps the manager to its owner. The manager starts processes that run code as its
// user, so it listens on a Unix socket in a directory only that user can enter: the
// directory's permissions are the authentication (no TCP port, no bearer secret). Python
// makes and checks the directory; the manager checks it again, as it may be run by hand.

const fs = require('node:fs');

class PrivateDirectoryError extends Error {}

function modeText(mode) {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

// Throws PrivateDirectoryError unless `dir` is a real directory (not a symbolic link) owned
// by this user that no one else can enter or write. Windows has no POSIX modes to check.
function checkPrivateDirectory(dir) {
  const refuse = (problem) => new PrivateDirectoryError(`refusing the directory ${dir}: ${problem}`);
  let stat;
  try {
    stat = fs.lstatSync(dir);
  } catch (err) {
    throw refuse(err.message);
  }
  if (stat.isSymbolicLink()) throw refuse('it is a symbolic link');
  if (!stat.isDirectory()) throw refuse('not a directory');
  if (process.platform === 'win32') return;
  if (stat.uid !== process.getuid()) throw refuse(`owned by uid ${stat.uid}, not by this user (uid ${process.getuid()})`);
  if (stat.mode & 0o077) {
    throw refuse(`its mode ${modeText(stat.mode)} lets group/others in; the manager's socket must be reachable by its user alone: chmod 700 it`);
  }
}

module.exports = {checkPrivateDirectory, PrivateDirectoryError};
