'use strict';
// Graceful close, stoppable-style. server.close() alone only stops accepting: it waits for
// every keep-alive socket, and a Python process holding an idle pooled connection would keep
// the host alive until the grace period. So sockets are tracked with their requests in
// flight: idle ones are closed at once, busy ones when their last response is done, and
// whatever is left when the grace period ends is destroyed.

function trackConnections(server) {
  const requestsInFlight = new Map();
  let closing = false;
  let closed = null;
  let forceTimer = null;
  let forced = 0;

  server.on('connection', (socket) => {
    requestsInFlight.set(socket, 0);
    socket.once('close', () => requestsInFlight.delete(socket));
  });

  // Prepended so the count is up before the host's handler can answer.
  server.prependListener('request', (req, res) => {
    const {socket} = req;
    requestsInFlight.set(socket, requestsInFlight.get(socket) + 1);
    res.once('close', () => {
      const left = requestsInFlight.get(socket) - 1;
      requestsInFlight.set(socket, left);
      // end() before destroy() lets a response still queued in the socket go out first.
      if (closing && left === 0) socket.end(() => socket.destroy());
    });
  });

  function destroyAll() {
    for (const socket of requestsInFlight.keys()) {
      forced += 1;
      socket.destroy();
    }
  }

  // Resolves with the number of connections that had to be cut when all are closed.
  // Calling it again (a second SIGINT) shortens the grace period.
  function close(gracePeriod) {
    closing = true;
    if (!closed) {
      closed = new Promise((resolve) => {
        server.close(() => {
          clearTimeout(forceTimer);
          resolve(forced);
        });
      });
      for (const [socket, count] of requestsInFlight) {
        if (count === 0) socket.destroy();
      }
    }
    clearTimeout(forceTimer);
    forceTimer = setTimeout(destroyAll, gracePeriod);
    return closed;
  }

  return {
    get closing() {
      return closing;
    },
    close,
  };
}

module.exports = {trackConnections};
