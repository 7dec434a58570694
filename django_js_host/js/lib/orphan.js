'use strict';
// A managed host outliving its manager. The manager counts the Python processes using each
// host and stops it after the last one; if the manager dies (even by SIGKILL), no one
// counts any more. The host learns of it from its IPC channel to the manager, which closes
// then, and from that moment stops by itself once no connection has been open for a while:
// the Python processes already using it keep their answers, and it does not run forever.

// Set in a managed host's environment by the manager (host-process.js).
const MANAGED_HOST_ENV = 'DJANGO_JS_HOST_MANAGED';

// How long an orphaned host waits with no connection open before it stops; Python keeps
// its connections open between calls, so idle means no process uses it any more.
const ORPHAN_IDLE_TIME = 5 * 1000;
const CHECK_INTERVAL = 500;

// Calls stop(why) once `server` has been without connections for `idleTime` after the
// manager that started this process went away. Does nothing in a host not started by one.
function stopWhenOrphanedAndIdle(server, stop, {idleTime = ORPHAN_IDLE_TIME} = {}) {
  if (process.env[MANAGED_HOST_ENV] !== '1' || !process.channel) return;
  delete process.env[MANAGED_HOST_ENV]; // not for the processes its functions start
  process.channel.unref();
  process.once('disconnect', () => {
    let idleSince = null;
    const timer = setInterval(() => {
      server.getConnections((err, count) => {
        if (err || count > 0) {
          idleSince = null;
          return;
        }
        idleSince ??= Date.now();
        if (Date.now() - idleSince >= idleTime) {
          clearInterval(timer);
          stop('its manager is gone and no one is connected');
        }
      });
    }, CHECK_INTERVAL);
  });
}

module.exports = {MANAGED_HOST_ENV, stopWhenOrphanedAndIdle};
