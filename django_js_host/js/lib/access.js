'use strict';
// What keeps the manager to its owner. The manager starts processes that run code as its
// user, so it must be out of reach of the network (loopback only) and of the machine's
// other users (every request carries a secret only the owner can read).

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const SECRET_HEADER = 'x-js-host-secret';

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

// BlockList also matches IPv4-mapped forms (::ffff:127.0.0.1) and spelled-out ::1.
function isLoopbackAddress(address) {
  if (address === 'localhost') return true;
  const family = net.isIP(address);
  return family !== 0 && loopback.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

class SecretFileError extends Error {}

// Reads the secret once, refusing a file that someone else could have read or replaced:
// it must be a regular file of ours, with no group/other permission, in a directory that
// only its owner can write to (or another user could swap the file for one they know).
// Messages name the file, never its content. Windows has no POSIX modes to check.
function readSecretFile(file) {
  const refuse = (problem) => new SecretFileError(`refusing the secret file ${file}: ${problem}`);
  let fd;
  try {
    // O_NONBLOCK: opening a named pipe planted there would otherwise wait for a writer.
    const {O_RDONLY, O_NOFOLLOW = 0, O_NONBLOCK = 0} = fs.constants;
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    throw refuse(err.code === 'ELOOP' ? 'it is a symbolic link' : err.message);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw refuse('not a regular file');
    if (process.platform !== 'win32') {
      if (stat.uid !== process.getuid()) throw refuse(`owned by uid ${stat.uid}, not by this user (uid ${process.getuid()})`);
      if (stat.mode & 0o077) throw refuse(`its mode ${modeText(stat.mode)} lets group/others access it; chmod 600 it`);
      const dir = path.dirname(path.resolve(file));
      const dirMode = fs.statSync(dir).mode;
      if (dirMode & 0o022) throw refuse(`its directory ${dir} (mode ${modeText(dirMode)}) is writable by group/others`);
    }
    const secret = fs.readFileSync(fd, 'utf8').trim();
    if (!secret) throw refuse('it is empty');
    return secret;
  } finally {
    fs.closeSync(fd);
  }
}

function modeText(mode) {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

// Returns isAllowed(headers). Both sides are hashed first so timingSafeEqual compares
// equal lengths and the time taken says nothing about the secret's length either.
function createSecretCheck(secret) {
  const digest = (text) => crypto.createHash('sha256').update(text).digest();
  const expected = digest(secret);
  return (headers) => {
    const given = headers[SECRET_HEADER];
    return typeof given === 'string' && crypto.timingSafeEqual(digest(given), expected);
  };
}

module.exports = {isLoopbackAddress, readSecretFile, SecretFileError, createSecretCheck};
