"""A host the development manager runs for us (USE_MANAGER=True).

We connect through the manager (which starts the host if need be and counts our
connection), reach the host on the Unix socket the manager gives, and ask the manager
again when the host goes away: a restarted host is waited for, a stopped one asked for
anew, a dead one reported.
"""

from __future__ import annotations

import atexit
import os
import time

from ..conf import Verbosity, announce, settings
from ..exceptions import ConnectionError, FunctionTimeout, JSHostError, ProcessError, UnknownHost
from .manager import start_failure

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .manager import JSHostManager

# How long a failed call waits for the manager to report that its host died.
DEATH_NOTICE_TIMEOUT = 2.0
# How often a call whose host is restarting asks the manager whether the new one is up (a
# restart takes 100 to 200 ms).
RESTART_POLL_INTERVAL = 0.02


class ManagedLink:
    def __init__(self, manager: JSHostManager, config_file: str) -> None:
        self.manager = manager
        self.config_file = config_file
        self.info: dict[str, Any] | None = None  # the manager's account of our host, once connected
        self._connection: tuple[int, str] | None = None  # (pid, id) of this process's connection to the host

    @property
    def connected(self) -> bool:
        return self.info is not None

    def url(self) -> str:
        assert self.info is not None, "connect() first"
        url: str = self.info["url"]
        return url

    def connect(self, request_status: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
        """Start the host (or find it running) through the manager and count our connection;
        returns the host's status."""
        if self._connection is None or self._connection[0] != os.getpid():
            # A forked child gets a connection of its own; the parent's stays the parent's.
            self._connection = (os.getpid(), os.urandom(16).hex())
            atexit.register(self.disconnect)
        info = self.info = self.manager.connect_host(self.config_file, self._connection[1], settings.SOURCE_ROOT)
        if info.get("started"):
            announce(
                Verbosity.PROCESS_START,
                f"Started JSHost [{info['url']}] for {self.config_file} (logfile {info['logfile']})",
            )
        status: dict[str, Any] = info["status"]
        return status

    def runs_old_code(self, status: dict[str, Any], is_stale: Callable[[dict[str, Any]], bool]) -> bool:
        assert self.info is not None, "connect() first"
        stale: bool = self.info.get("stale", False)  # the manager restarts it, unless told not to
        return stale

    def forget(self) -> None:
        self.info = None

    def disconnect(self) -> None:
        """Close this process's connection (done for you at exit).

        The manager stops the host DISCONNECT_TIMEOUT seconds after its last connection
        closes, unless another opens.
        """
        connection, self._connection = self._connection, None
        if connection is None or connection[0] != os.getpid():
            return
        atexit.unregister(self.disconnect)
        url = (self.info or {}).get("url", self.config_file)
        self.info = None
        try:
            info = self.manager.disconnect_host(self.config_file, connection[1])
        except JSHostError:
            return  # the manager is gone, and with it every connection it counted
        if info["connections"] == 0:
            announce(
                Verbosity.DISCONNECT,
                f"Closed connection to JSHost [{url}]. Host will stop in "
                f"{settings.DISCONNECT_TIMEOUT:g} seconds unless another connection is opened",
            )

    def restart(self) -> dict[str, Any]:
        """Same socket and logfile, connections kept; returns the manager's account."""
        info = self.manager.restart_host(self.config_file)
        self.info = {**(self.info or {}), **info}
        return info

    def stop(self) -> dict[str, Any]:
        info = self.manager.stop_host(self.config_file)
        self._connection = None
        self.info = None
        return info

    def await_host(self, error: ConnectionError, status: dict[str, Any] | None, deadline: float) -> bool:
        """After ``error`` on our host's socket: True once a connect() may find a host for the
        call to go to again; otherwise raises why there is none.

        A host restarting (its files changed, `jshost restart`) is waited for until
        ``deadline``: the old one answered every call it had taken before it stopped, so a
        call it did not answer is sent again. A host that was stopped (`jshost stop`), or went
        with its manager, is asked for again: connect() starts one. A config that did not load
        is tried again: connect() raises its JS error if it still does not. A host that died
        stays down: ProcessError. The manager learns of a death a moment after the socket
        breaks (a dying process closes its sockets first), so a host it still reports alive
        is given DEATH_NOTICE_TIMEOUT to be reported dead.
        """
        pid = (status or {}).get("pid")
        death_notice_deadline = time.monotonic() + DEATH_NOTICE_TIMEOUT
        while True:
            try:
                info = self.manager.host_status(self.config_file)
            except (UnknownHost, ConnectionError):
                return True
            state = info["state"]
            if state == "exited":
                failure = info.get("startError")
                if failure is None:
                    raise self._died(info)
                if failure["name"] != "ConfigDoesNotLoad":
                    raise start_failure(self.config_file, {**failure, "logfile": info["logfile"]})
                return True
            if state == "running" and info["pid"] != pid:
                return True
            now = time.monotonic()
            if now > deadline:
                raise FunctionTimeout(
                    f"The JS host for {self.config_file} was restarting, and was not back within "
                    f"the call's timeout; its logfile {info['logfile']} says why it takes long."
                )
            if state == "running" and now > death_notice_deadline:
                raise ConnectionError(
                    f"Lost the managed JS host for {self.config_file} at {info['url']} "
                    f"({error.__cause__ or error}), though its manager says it runs (pid {pid}). "
                    f"Its logfile {info['logfile']} may say why; host.restart() or "
                    "`manage.py jshost restart` starts a new one."
                )
            time.sleep(RESTART_POLL_INTERVAL)

    def _died(self, info: dict[str, Any]) -> ProcessError:
        exit = info.get("exit") or {}
        how = f"signal {exit['signal']}" if exit.get("signal") else f"exit code {exit.get('code')}"
        return ProcessError(
            f"The JS host for {self.config_file} died ({how}); its logfile {info['logfile']} "
            "says why. It is not restarted behind your back: host.restart() or "
            "`manage.py jshost restart` starts it again."
        )
