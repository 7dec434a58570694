"""JSHostManager: the detached development process that starts hosts on demand.

The first Python process that needs a host starts the manager (``js-host.js --manager
--detach``), which outlives it; every Python process then asks the manager for the host
of its config file, so Django's autoreloader, a shell and a server share one warm host.
The manager stops a host a few seconds after its last connection closes (or its owner
died), and exits when it has no hosts left.

The manager and its hosts listen on Unix sockets in our user's private directory
(private.py): no TCP port, so no other local user and no web page can reach them.
"""

from __future__ import annotations

import json
import os
import time

from ..conf import Verbosity, announce, config_does_not_load, node_not_found, settings
from ..exceptions import (
    ConfigError,
    ConnectionError,
    FunctionTimeout,
    ProcessError,
    UnexpectedResponse,
    UnknownHost,
)
from ..private import MANAGER_SOCKET, manager_start_lock, private_directory
from ..protocol import JSON_HEADERS
from ..transport import Transport, unix_url

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from typing import Any

# Starting a host may load a big bundle; the manager gives it 30 s.
CONTROL_TIMEOUT = 60.0
# What the manager answers at once (no host to start).
QUICK_TIMEOUT = 5.0
HOST_STARTING_PATHS = frozenset({"/host/connect", "/host/restart"})
SPAWN_TIMEOUT = 30.0
# How often a starting manager is asked whether it listens yet (it takes tens of ms).
SPAWN_POLL_INTERVAL = 0.005
READY_TIMEOUT = 10.0
# How long to wait for whatever holds the socket to let go of it (a manager that is
# stopping does within moments): past that, it is not a manager (see ensure_running).
TAKEN_TIMEOUT = 2.0


class JSHostManager:
    """The manager of our user's private directory under ``runtime_dir`` (default: the
    RUNTIME_DIR setting, else the system's temp dir). One per directory: to keep managers
    apart (tests, two checkouts that must not share hosts), give each its own directory."""

    def __init__(self, runtime_dir: str | None = None) -> None:
        self._runtime_dir = runtime_dir
        # (the runtime dir it was made under, the private directory)
        self._directory: tuple[str | None, str] | None = None
        self._transport: Transport | None = None
        self._manager_answered_at: str | None = None  # the URL a manager last answered GET /status at

    def __repr__(self) -> str:
        return f"<JSHostManager {self.url}>"

    @property
    def directory(self) -> str:
        """Our private directory, made and checked once per runtime dir."""
        runtime_dir = self._runtime_dir or settings.RUNTIME_DIR
        if self._directory is None or self._directory[0] != runtime_dir:
            self._directory = (runtime_dir, private_directory(runtime_dir))
        return self._directory[1]

    @property
    def socket_path(self) -> str:
        return os.path.join(self.directory, MANAGER_SOCKET)

    @property
    def url(self) -> str:
        return unix_url(self.socket_path)

    @property
    def logfile(self) -> str:
        return os.path.join(self.directory, "manager.log")

    def get_status(self) -> dict[str, Any]:
        return self._request("GET", "/status")

    def is_running(self) -> bool:
        try:
            self.get_status()
        except ConnectionError:
            return False
        return True

    def ensure_running(self) -> dict[str, Any]:
        """Start the manager unless one already answers; returns its status.

        Under a lock, so that of several processes starting at once (runserver and its
        autoreloaded child, gunicorn workers) one starts the manager and the others find it.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        with manager_start_lock(self.directory):
            while True:
                try:
                    return self.get_status()
                except ConnectionError:
                    if time.monotonic() > deadline:
                        raise ProcessError(
                            f"The manager did not answer at {self.url}; see its logfile {self.logfile}"
                        ) from None
                status = self.spawn_detached_manager()
                if status is not None:
                    return status
                # A manager that is stopping still holds the socket: wait for it to let go.
                deadline = min(deadline, time.monotonic() + TAKEN_TIMEOUT)
                time.sleep(0.05)

    def spawn_detached_manager(self) -> dict[str, Any] | None:
        """Start ``js-host.js --manager`` in the background; returns its status once it
        listens, or None if a manager answers on the socket already (EADDRINUSE).

        ``sh`` starts it and exits at once, so the manager is not our child (never our
        zombie) and, in a session of its own, outlives this process and its Ctrl-C. ``sh``
        rather than ``js-host.js --detach``: a second node start would double the wait.
        The manager's output goes to its logfile, which says why if it fails to start.
        """
        import shutil
        import subprocess  # here: most processes find the manager running

        node = shutil.which(settings.PATH_TO_NODE)
        if node is None:
            raise node_not_found(settings.PATH_TO_NODE)
        logfile = self.logfile
        with open(logfile, "ab") as log:
            start_of_this_run = log.tell()
        command = [node, settings.PATH_TO_BIN, "--manager", "--json", "--socket", self.socket_path]
        # With no host to run, it waits as long as a host outlives its last connection.
        command += ["--idle-timeout", str(int(settings.DISCONNECT_TIMEOUT * 1000))]
        launched = subprocess.run(
            ["/bin/sh", "-c", 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!', "sh", logfile, *command],
            capture_output=True, text=True, cwd=self.directory, start_new_session=True,
        )  # fmt: skip
        if launched.returncode != 0 or not launched.stdout.strip().isdigit():
            said = launched.stderr.strip() or launched.stdout
            raise ProcessError(f"Could not start the manager with /bin/sh: {said!r}")
        pid = int(launched.stdout)
        deadline = time.monotonic() + SPAWN_TIMEOUT
        while True:
            try:
                status = self.get_status()
                break
            except ConnectionError:
                pass
            if not _is_alive(pid):
                said = _read_from(logfile, start_of_this_run).strip()
                if "EADDRINUSE" in said:
                    return None
                raise ProcessError(f"The manager could not start: {said} (logfile {logfile})")
            if time.monotonic() > deadline:
                raise ProcessError(
                    f"The manager (pid {pid}) did not answer within {SPAWN_TIMEOUT:g} s; see its logfile {logfile}"
                )
            time.sleep(SPAWN_POLL_INTERVAL)
        announce(Verbosity.PROCESS_START, f"Started JSHostManager [{self.url}] (pid {status['pid']})")
        return status

    def connect_host(self, config_file: str, connection: str, source_root: str) -> dict[str, Any]:
        """Start (or reuse) the host for ``config_file`` and count a connection to it.

        Starts the manager if nothing answers (asking first saves a fresh process a round
        trip when it runs). A manager exits as its last host stops, so one that is just going
        away is replaced the same way: connecting again with the same id is harmless.
        """
        payload = {
            "config": config_file,
            "owner": os.getpid(),
            "connection": connection,
            "sourceRoot": source_root,
            "restartOnChange": settings.RESTART_ON_CHANGE,
            "disconnectTimeout": int(settings.DISCONNECT_TIMEOUT * 1000),
        }
        try:
            return self._request("POST", "/host/connect", payload)
        except ConnectionError:
            self.ensure_running()
        return self._request("POST", "/host/connect", payload)

    def disconnect_host(self, config_file: str, connection: str) -> dict[str, Any]:
        return self._request("POST", "/host/disconnect", {"config": config_file, "connection": connection})

    def host_status(self, config_file: str) -> dict[str, Any]:
        return self._request("POST", "/host/status", {"config": config_file})

    def restart_host(self, config_file: str) -> dict[str, Any]:
        return self._request("POST", "/host/restart", {"config": config_file})

    def stop_host(self, config_file: str) -> dict[str, Any]:
        return self._request("POST", "/host/stop", {"config": config_file})

    def stop(self) -> int | None:
        """Stop every managed host, then the manager. Returns the manager's pid, or None."""
        try:
            pid: int = self.get_status()["pid"]
        except ConnectionError:
            return None
        try:
            self._request("POST", "/manager/stop", {})
        except ConnectionError:
            pass  # it stopped, or began to (503), on its own since it answered: as asked
        return pid

    def close_connections(self) -> None:
        """Close this thread's socket to the manager (see JSHost.close_connections)."""
        if self._transport is not None:
            self._transport.close()

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a control request; answer the decoded JSON, or raise."""
        url = self.url
        if path in HOST_STARTING_PATHS and self._manager_answered_at != url:
            # Before waiting up to CONTROL_TIMEOUT on whatever listens there, make sure it
            # is a manager that answers: GET /status does at once.
            self.get_status()
        transport = self._transport
        if transport is None or transport.base_url != url:
            transport = self._transport = Transport(url, peer="The JS host manager")
        body = None if payload is None else json.dumps(payload).encode()
        timeout = CONTROL_TIMEOUT if path in HOST_STARTING_PATHS else QUICK_TIMEOUT
        try:
            response = transport.request(method, path, body, JSON_HEADERS, timeout=timeout)
        except (ConnectionError, FunctionTimeout) as error:
            self._manager_answered_at = None  # whatever listens there next is asked again
            if path in HOST_STARTING_PATHS or isinstance(error, ConnectionError):
                raise
            raise ProcessError(
                f"The manager at {url} did not answer {path} within {QUICK_TIMEOUT:g} s, as it does "
                f"at once: is it stuck? Its logfile {self.logfile} may say why."
            ) from None
        try:
            answer = json.loads(response.body)
        except (ValueError, RecursionError):
            answer = None
        # A manager answers every request with a JSON object, and says what it is in its
        # status (a stopping one answers 503, with no status).
        if not isinstance(answer, dict) or (
            path == "/status" and response.status == 200 and answer.get("type") != "Manager"
        ):
            raise UnexpectedResponse(
                f"{url} is not a django-js-host manager (it answered {path} with "
                f"{response.status} {response.content_type or 'and no content type'}); remove "
                "the socket file, and a manager is started there.",
                response.status,
                response.body,
            )
        if response.status == 200:
            if path == "/status":
                self._manager_answered_at = url
            return answer
        message = answer.get("message")
        if answer.get("name") in START_FAILURES and payload is not None:
            raise start_failure(payload["config"], answer)
        if response.status == 400:
            raise ConfigError(f"The manager refused {path}: {message}")
        if response.status == 404 and answer.get("name") == "UnknownHost":
            raise UnknownHost(message)
        if response.status == 503:  # stopping: as good as gone
            raise ConnectionError(f"The manager at {url} is stopping: {message}")
        raise UnexpectedResponse(
            f"The manager at {url} answered {path} with {response.status}: {message}",
            response.status,
            response.body,
        )


# What the manager calls a host that could not start (js/lib/host-process.js).
START_FAILURES = frozenset({"HostStartFailed", "ConfigDoesNotLoad"})


def start_failure(config_file: str, failure: dict[str, Any]) -> ConfigError | ProcessError:
    """The error for a host the manager could not start, from its account ``failure``
    ({name, message, logfile}): ConfigError for a config that does not load, as for a host
    you run; ProcessError for anything else."""
    logfile = failure.get("logfile")
    if failure["name"] == "ConfigDoesNotLoad":
        return config_does_not_load(config_file, failure["message"], logfile)
    return ProcessError(f"{failure['message']}\nThe host's logfile: {logfile}")


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process has that pid: cannot tell, and the deadline holds
    return True


def _read_from(path: str, offset: int) -> str:
    with open(path, "rb") as file:
        file.seek(offset)
        return file.read().decode("utf-8", "replace")


manager = JSHostManager()
