"""JSHostManager: the detached development process that starts hosts on demand.

The first Python process that needs a host starts the manager (``js-host.js --manager
--detach``), which outlives it; every Python process then asks the manager for the host
of its config file, so Django's autoreloader, a shell and a server share one warm host.
The manager stops a host a few seconds after its last connection closes (or its owner
died), and exits when it has no hosts left.
"""

import json
import os
import time

from .conf import Verbosity, announce, node_not_found, settings
from .exceptions import (
    ConfigError,
    ConnectionError,
    FunctionTimeout,
    ProcessError,
    UnexpectedResponse,
    UnknownHost,
)
from .private import SECRET_FILE, private_directory, read_or_create_secret
from .transport import Transport, url_host

SECRET_HEADER = "X-JS-Host-Secret"
# Starting a host may load a big bundle; the manager gives it 30 s.
CONTROL_TIMEOUT = 60.0
# What the manager answers at once (no host to start): a listener this slow is not one.
QUICK_TIMEOUT = 5.0
HOST_STARTING_PATHS = frozenset({"/host/connect", "/host/restart"})
SPAWN_TIMEOUT = 30.0
READY_TIMEOUT = 10.0
# How long to wait for the manager that took the port first (see ensure_running).
RACE_TIMEOUT = 2.0


class JSHostManager:
    """The manager at ``address:port`` (default: the MANAGER_ADDRESS and MANAGER_PORT settings).

    Its secret and the logfiles live in our user's private directory inside ``temp_dir``
    (default: the system's temp dir).
    """

    def __init__(self, address=None, port=None, temp_dir=None):
        self._address = address
        self._port = port
        self._temp_dir = temp_dir
        self._transport = None
        self._checked_listener = None  # (address, port) known to be a manager of ours

    def __repr__(self):
        return f"<JSHostManager {self.address}:{self.port}>"

    @property
    def address(self):
        return self._address or settings.MANAGER_ADDRESS

    @property
    def port(self):
        return self._port or settings.MANAGER_PORT

    @property
    def url(self):
        return f"http://{url_host(self.address)}:{self.port}"

    @property
    def directory(self):
        return private_directory(self._temp_dir)

    @property
    def logfile(self):
        return os.path.join(self.directory, f"manager-{self.port}.log")

    def get_status(self):
        return self._request("GET", "/status")

    def is_running(self):
        try:
            self.get_status()
        except ConnectionError:
            return False
        return True

    def ensure_running(self):
        """Start the manager unless one already answers; returns its status."""
        try:
            return self.get_status()
        except ConnectionError:
            pass
        # None: the port was taken (EADDRINUSE), most likely by the manager of a process
        # that raced us, which listens already and so answers at once.
        spawned = self.spawn_detached_manager()
        wait = READY_TIMEOUT if spawned else RACE_TIMEOUT
        deadline = time.monotonic() + wait
        while True:
            try:
                return self.get_status()
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise ProcessError(
                        f"The manager did not answer at {self.url} within {wait:g} s; "
                        f"see its logfile {self.logfile}"
                    ) from None
                time.sleep(0.05)

    def spawn_detached_manager(self):
        """Run ``js-host.js --manager --detach``, which returns once the manager listens.

        The manager ends up detached from us, in its own session, so it outlives this
        process and is never our zombie. If another process won the race for the port,
        its manager is as good as ours.
        """
        import subprocess  # here: most processes find the manager running

        read_or_create_secret(self.directory)
        command = [
            settings.PATH_TO_NODE, settings.PATH_TO_BIN, "--manager", "--detach", "--json",
            "--address", self.address, "--port", str(self.port),
            "--secret-file", os.path.join(self.directory, SECRET_FILE),
            "--logfile", self.logfile,
        ]  # fmt: skip
        try:
            finished = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=SPAWN_TIMEOUT, cwd=self.directory,
            )  # fmt: skip
        except FileNotFoundError:
            raise node_not_found(settings.PATH_TO_NODE) from None
        except subprocess.TimeoutExpired:
            raise ProcessError(
                f"The manager did not start within {SPAWN_TIMEOUT:g} s; see its logfile {self.logfile}"
            ) from None
        if finished.returncode == 0:
            status = json.loads(finished.stdout.splitlines()[0])
            announce(Verbosity.PROCESS_START, f"Started JSHostManager [{self.address}:{self.port}] (pid {status['pid']})")
            return status
        if "EADDRINUSE" not in finished.stderr:
            raise ProcessError(
                f"The manager could not start: {finished.stderr.strip()} (logfile {self.logfile})"
            )
        return None

    def connect_host(self, config_file, connection, source_root):
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

    def disconnect_host(self, config_file, connection):
        return self._request("POST", "/host/disconnect", {"config": config_file, "connection": connection})

    def host_status(self, config_file):
        return self._request("POST", "/host/status", {"config": config_file})

    def restart_host(self, config_file):
        return self._request("POST", "/host/restart", {"config": config_file})

    def stop_host(self, config_file):
        return self._request("POST", "/host/stop", {"config": config_file})

    def stop(self):
        """Stop every managed host, then the manager. Returns the manager's pid, or None."""
        try:
            pid = self.get_status()["pid"]
        except ConnectionError:
            return None
        self._request("POST", "/manager/stop", {})
        return pid

    def close_connections(self):
        """Close this thread's socket to the manager (see JSHost.close_connections)."""
        if self._transport is not None:
            self._transport.close()

    def _request(self, method, path, payload=None):
        """Send a control request with our secret; answer the decoded JSON, or raise."""
        listener = (self.address, self.port)
        if self._checked_listener != listener:
            if path in HOST_STARTING_PATHS:
                # Before waiting up to CONTROL_TIMEOUT on whatever listens there, make sure
                # it is a manager of ours: GET /status answers at once (and checks the port).
                self.get_status()
            else:
                ensure_port_is_ours(*listener)  # reading the kernel's socket table takes ~2 ms
        transport = self._transport
        if transport is None or transport.base_url != self.url:
            transport = self._transport = Transport(self.url)
        headers = {SECRET_HEADER: read_or_create_secret(self.directory), "Content-Type": "application/json"}
        body = None if payload is None else json.dumps(payload).encode()
        timeout = CONTROL_TIMEOUT if path in HOST_STARTING_PATHS else QUICK_TIMEOUT
        try:
            response = transport.request(method, path, body, headers, timeout=timeout)
        except ConnectionError:
            self._checked_listener = None  # whoever listens there next is checked again
            raise
        except FunctionTimeout:
            self._checked_listener = None
            if path in HOST_STARTING_PATHS:
                raise
            raise ConfigError(
                f"Something listens at {self.address}:{self.port} but did not answer {path} "
                f"within {QUICK_TIMEOUT:g} s, as a manager does at once: is MANAGER_PORT taken by "
                "another program? Set JS_HOST['MANAGER_PORT'] to a free port."
            ) from None
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or (path == "/status" and answer.get("type") != "Manager"):
            # A manager answers every request with a JSON object, and says what it is.
            raise ConfigError(
                f"{self.address}:{self.port} is not a django-js-host manager (it answered {path} "
                f"with {response.status} {response.content_type or 'and no content type'}): set "
                "JS_HOST['MANAGER_PORT'] to a free port."
            )
        self._checked_listener = listener
        if response.status == 200:
            return answer
        message = answer.get("message")
        if response.status == 403:
            raise ConfigError(
                f"The manager at {self.url} refused our secret ({message}). If it belongs to "
                "another user, give yours another JS_HOST['MANAGER_PORT']."
            )
        if answer.get("name") == "HostStartFailed":
            raise ProcessError(f"{message}\nThe host's logfile: {answer.get('logfile')}")
        if response.status == 400:
            raise ConfigError(f"The manager refused {path}: {message}")
        if response.status == 404 and answer.get("name") == "UnknownHost":
            raise UnknownHost(message)
        if response.status == 503:  # stopping: as good as gone
            raise ConnectionError(f"The manager at {self.url} is stopping: {message}")
        raise UnexpectedResponse(
            f"The manager at {self.url} answered {path} with {response.status}: {message}",
            response.status,
            response.body,
        )


def ensure_port_is_ours(address, port):
    """Refuse to send our secret to a port another local user listens on (Linux only).

    Another user could start a listener on the manager's port first; the kernel's socket
    table says who owns it. Elsewhere the manager's 403 still keeps them out.
    """
    owner = _listener_uid(address, port)
    if owner is not None and owner != os.getuid():
        raise ConfigError(
            f"{address}:{port} is held by another user's process (uid {owner}), not a manager of "
            "ours: set JS_HOST['MANAGER_PORT'] to a free port."
        )


def _listener_uid(address, port):
    if address == "localhost":
        address = "127.0.0.1"
    table = "/proc/net/tcp6" if ":" in address else "/proc/net/tcp"
    try:
        with open(table) as sockets:
            rows = sockets.read().splitlines()[1:]
    except OSError:
        return None
    wanted_port = f"{port:04X}"
    for row in rows:
        fields = row.split()
        local, state, uid = fields[1], fields[3], fields[7]
        if state == "0A" and local.rsplit(":", 1)[1] == wanted_port:  # 0A: LISTEN
            return int(uid)
    return None


manager = JSHostManager()
