'use strict';
// Listening on a Unix socket file. Such a file outlives a process killed with SIGKILL, and
// a new server cannot bind over it; but a file left there may also be a live server's. So
// a file in the way is probed first: refused means stale (removed, then bound), answered
// means taken (EADDRINUSE, named). Nothing else (a regular file, a directory) is removed.

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

// What Linux (108) and macOS (104) allow in sockaddr_un, less the terminating NUL.
const MAX_SOCKET_PATH_BYTES = process.platform === 'darwin' ? 103 : 107;

class SocketPathError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

function checkSocketPath(socketPath) {
  const length = Buffer.byteLength(socketPath);
  if (length > MAX_SOCKET_PATH_BYTES) {
    throw new SocketPathError(
      `the socket path ${socketPath} is ${length} bytes long; this system allows ${MAX_SOCKET_PATH_BYTES}: choose a shorter one`,
      'ENAMETOOLONG',
    );
  }
}

// Resolves with 'answered' if a server accepts on the socket, 'refused' if none does (the
// file is stale), or 'missing' if there is no socket there any more.
function probeSocket(socketPath) {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve('answered');
    });
    probe.once('error', (err) => resolve(err.code === 'ENOENT' ? 'missing' : 'refused'));
  });
}

// Removes a stale socket file at `socketPath`; rejects with EADDRINUSE if a server answers
// there, or with a named error if something that is not a socket is in the way.
async function clearStaleSocket(socketPath) {
  let stat;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (err) {
    if (err.code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw new SocketPathError(`${socketPath} exists and is not a socket; not removing it`, 'EEXIST');
  }
  if ((await probeSocket(socketPath)) === 'answered') {
    throw new SocketPathError(`a server already answers on ${socketPath} (EADDRINUSE)`, 'EADDRINUSE');
  }
  try {
    fs.unlinkSync(socketPath);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}

// Calls bind() with the process umask set so that a socket file it creates has `mode`
// from its first instant (chmod afterwards would leave a moment in which the umask's mode,
// maybe group-writable, lets others connect). Binding a path is synchronous inside
// server.listen() in a process that binds itself; a node:cluster worker's bind happens in
// its primary, which must set its own umask (cluster.js). Worker threads cannot set it.
function withSocketUmask(mode, bind) {
  if (mode === undefined || mode === null) return bind();
  let previous;
  try {
    previous = process.umask(0o777 & ~mode);
  } catch {
    return bind();
  }
  try {
    return bind();
  } finally {
    process.umask(previous);
  }
}

// libuv reports a missing directory as EACCES (as Windows would): say which it is.
function explainBindError(err, socketPath) {
  const dir = path.dirname(socketPath);
  if (err.code === 'EACCES' && !fs.existsSync(dir)) {
    return new SocketPathError(`the directory ${dir} does not exist`, 'ENOENT');
  }
  return err;
}

// server.listen(socketPath) once, with the file created in `mode` when given (see
// withSocketUmask). Resolves once listening; rejects with the listen error.
function bindSocket(server, socketPath, mode) {
  return new Promise((resolve, reject) => {
    const fail = (err) => reject(explainBindError(err, socketPath));
    server.once('error', fail);
    withSocketUmask(mode, () =>
      server.listen(socketPath, () => {
        server.off('error', fail);
        resolve();
      }),
    );
  });
}

// server.listen(socketPath), replacing a stale socket file; the file gets `mode` when given
// (the process umask decides otherwise). Resolves once listening.
async function listenOnSocket(server, socketPath, mode) {
  checkSocketPath(socketPath);
  try {
    await bindSocket(server, socketPath, mode);
  } catch (err) {
    if (err.code !== 'EADDRINUSE') throw err;
    await clearStaleSocket(socketPath);
    await bindSocket(server, socketPath, mode);
  }
  // Also where the umask could not be set; a no-op otherwise.
  if (mode !== undefined && mode !== null) fs.chmodSync(socketPath, mode);
}

module.exports = {listenOnSocket, bindSocket, clearStaleSocket, probeSocket, checkSocketPath, SocketPathError, MAX_SOCKET_PATH_BYTES};
