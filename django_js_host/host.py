"""JSHost: a Node host process serving one config file, as Python sees it.

The host itself runs elsewhere (a supervisor in production, the manager in development);
this object knows where to find it, asks it for its status, checks that it serves our
config file, and sends it requests.
"""

import atexit
import hashlib
import json
import os
import threading
import time

from .conf import Verbosity, announce, node_not_found, settings
from .exceptions import (
    ConfigError,
    ConnectionError,
    JSHostError,
    ProcessError,
    UnexpectedResponse,
    UnknownHost,
)
from .manager import manager as default_manager
from .transport import AsyncTransport, Transport, url_host

STATUS_TIMEOUT = 5.0
JSON_HEADERS = {"Content-Type": "application/json"}
# How long a failed call waits for the manager to report that its host died.
DEATH_NOTICE_TIMEOUT = 2.0


class JSHost:
    """A host for one config file.

    ``config_file`` defaults to the CONFIG_FILE setting, read each time it is needed, so the
    default ``host`` follows settings changes (override_settings in tests). ``manager``
    defaults to the default manager when USE_MANAGER is on.
    """

    def __init__(self, config_file=None, manager=None):
        self._config_file = config_file
        self._manager = manager
        self._lock = threading.RLock()
        self._config_cache = {}  # (node, bin, config file, source root) -> config dict
        self._transport = None
        self._async_transport = None
        self._status = None  # what the host reported when we connected
        self._managed = None  # the manager's account of our host, when managed
        self._settings_seen = None  # the resolved settings the above was learnt under
        self._connection = None  # (pid, id) of this process's connection to a managed host

    def __repr__(self):
        return f"<JSHost {self.config_file}>"

    def close_connections(self):
        """Close this thread's sockets to the host and its manager; the next call reopens them.

        For code that runs before a fork (AppConfig.ready() under gunicorn --preload), so
        no socket is inherited; config, status and the managed connection are kept.
        """
        if self._transport is not None:
            self._transport.close()
        if self.manager is not None:
            self.manager.close_connections()

    def reset(self):
        """Forget what we learnt about the host (config, status, connections)."""
        self._config_cache = {}
        self._forget_host()

    def _forget_host(self):
        self._drop_transport()
        self._status = None
        self._managed = None
        self._settings_seen = None

    def _drop_transport(self):
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._async_transport = None

    def _follow_settings(self):
        """Forget what we learnt about the host if the settings changed since.

        So the default host follows override_settings (and pytest-django's ``settings``):
        another CONFIG_FILE or ROOT_URL means another host.
        """
        resolved = settings.as_dict()
        if resolved is not self._settings_seen:
            self._forget_host()
            self._settings_seen = resolved

    @property
    def config_file(self):
        """Absolute path of the config file this host serves."""
        if self._config_file is None:
            return settings.CONFIG_FILE
        return os.path.join(settings.SOURCE_ROOT, os.fspath(self._config_file))

    @property
    def manager(self):
        """The JSHostManager that runs this host, or None when it runs on its own."""
        if self._manager is None and settings.USE_MANAGER:
            return default_manager
        return self._manager

    @property
    def logfile(self):
        """The file a managed host writes its output to (connects first if need be)."""
        if self.manager is None:
            raise ConfigError(
                "Only a managed host (USE_MANAGER=True) has a logfile of ours; a host you run "
                "yourself logs to its stdout and stderr, or to its --logfile."
            )
        return self._managed_info()["logfile"]

    def get_config(self):
        """The config the host reports for our config file, read without starting it.

        Runs ``node js-host.js CONFIG --config`` once and caches the answer, which also
        proves that the config file loads: a broken one raises ConfigError with the JS error.
        """
        key = (settings.PATH_TO_NODE, settings.PATH_TO_BIN, self.config_file, settings.SOURCE_ROOT)
        config = self._config_cache.get(key)
        if config is None:
            with self._lock:
                config = self._config_cache.get(key) or read_config(*key)
                self._config_cache = {key: config}
        return config

    def get_url(self):
        """Where requests for this host go: ROOT_URL if set, else the host's own address."""
        self._follow_settings()
        if settings.ROOT_URL:
            return settings.ROOT_URL.rstrip("/")
        if self.manager is not None:
            return self._managed_info()["url"]
        config = self.get_config()
        return "http://{}:{}".format(_url_host(config["address"]), config["port"])

    @property
    def transport(self):
        """The Transport to our URL; made once, and again when the URL changes."""
        transport = self._transport
        if transport is None:
            transport = self._transport = Transport(self.get_url())
        return transport

    @property
    def async_transport(self):
        """The AsyncTransport to our URL, for acall."""
        transport = self._async_transport
        if transport is None:
            transport = self._async_transport = AsyncTransport(self.get_url())
        return transport

    def request_status(self):
        """Ask the running host for its status now, and return it as a dict."""
        response = self.transport.request("GET", "/status", timeout=STATUS_TIMEOUT)
        try:
            status = json.loads(response.body) if response.status == 200 else None
        except ValueError:
            status = None
        if not isinstance(status, dict) or status.get("type") != "Host":
            raise UnexpectedResponse(
                f"{response.url} did not answer like a JS host "
                f"(status {response.status}, {response.body[:200]!r})",
                response.status,
                response.body,
            )
        return status

    def get_status(self):
        """The status the host reported when we connected (asks it if we never did)."""
        self._follow_settings()
        if self._status is None:
            self._status = self.request_status()
        return self._status

    def is_running(self):
        """True if a JS host answers at our URL (a managed one is not started to find out)."""
        try:
            if self.manager is not None and self._managed is None:
                return self.manager.host_status(self.config_file)["state"] == "running"
            self.request_status()
        except JSHostError:
            return False
        return True

    def is_stale(self):
        """True if the host's JS files changed since it loaded them (it runs old code)."""
        config = self.get_status()["config"]
        return source_hash(config["sourceFiles"]) != config["sourceHash"]

    def connect(self):
        """Connect to the host, starting it through the manager if we use one.

        A host we do not manage must serve our config file: another project's host on the
        same port is refused. Behind ROOT_URL (a proxy, possibly to other machines) the
        path on the far side may differ, so there only "a JS host answers" is checked.
        """
        self._follow_settings()
        with self._lock:
            status = self._connect_managed() if self.manager is not None else self._connect_direct()
            self._status = status
        announce(Verbosity.CONNECT, f"Connected to JSHost [{self.get_url()}] serving {self.config_file}")
        announce(Verbosity.VERBOSE, f"JSHost status: {json.dumps(status)}")
        if self._runs_old_code():
            announce(
                Verbosity.PROCESS_START,
                f"JSHost [{self.get_url()}] runs an older version of {self.config_file} or the "
                "files it requires: restart it to load the current code.",
            )
        return status

    def _runs_old_code(self):
        if self._managed is not None:
            return self._managed.get("stale", False)  # the manager restarts it, unless told not to
        # Behind ROOT_URL the host's files may be on another machine: no comparing there.
        return not settings.ROOT_URL and self.is_stale()

    def _connect_direct(self):
        status = self.request_status()
        served = status.get("config", {}).get("configFile")
        if not settings.ROOT_URL and not _same_file(served, self.config_file):
            raise ConfigError(
                f"The JS host at {self.get_url()} serves {served}, not {self.config_file}. "
                "Another project's host may be using this port: stop it, or give this "
                "project's config another port."
            )
        return status

    def _connect_managed(self):
        manager = self.manager
        if self._connection is None or self._connection[0] != os.getpid():
            # A forked child gets a connection of its own; the parent's stays the parent's.
            self._connection = (os.getpid(), os.urandom(16).hex())
            atexit.register(self.disconnect)
        info = self._managed = manager.connect_host(
            self.config_file, self._connection[1], settings.SOURCE_ROOT
        )
        if self._transport is not None and self._transport.base_url != info["url"]:
            self._drop_transport()  # a new manager started the host on another port
        if info.get("started"):
            announce(
                Verbosity.PROCESS_START,
                f"Started JSHost [{info['url']}] for {self.config_file} (logfile {info['logfile']})",
            )
        return info["status"]

    def _managed_info(self):
        if self._managed is None:
            self.connect()
        return self._managed

    def disconnect(self):
        """Close this process's connection to a managed host (done for you at exit).

        The manager stops the host DISCONNECT_TIMEOUT seconds after its last connection
        closes, unless another opens.
        """
        connection, self._connection = self._connection, None
        if self.manager is None or connection is None or connection[0] != os.getpid():
            return
        atexit.unregister(self.disconnect)
        url = (self._managed or {}).get("url", self.config_file)
        self._managed = None
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

    def restart(self):
        """Ask the manager to restart the host: same port and logfile, connections kept."""
        with self._lock:
            info = self._require_manager("restart").restart_host(self.config_file)
            self._managed, self._status = {**(self._managed or {}), **info}, info["status"]
        announce(Verbosity.PROCESS_START, f"Restarted JSHost [{info['url']}] for {self.config_file}")
        return info

    def stop(self):
        """Ask the manager to stop the host now."""
        info = self._require_manager("stop").stop_host(self.config_file)
        self._connection = None
        self.reset()
        return info

    def _require_manager(self, action):
        if self.manager is None:
            raise ConfigError(
                f"Only a managed host (USE_MANAGER=True) can be told to {action} from Python; "
                "a host you run yourself answers to its supervisor."
            )
        return self.manager

    def post_call(self, path, body, timeout):
        """POST a call (``/function/<name>?hash=...`` or ``/batch/...``) with its JSON body;
        returns the transport's Response for Function to decode.

        The first call connects, so no call ever reaches a host serving another config.
        """
        self._follow_settings()
        if self._status is None:
            self.connect()
        try:
            return self.transport.request("POST", path, body, JSON_HEADERS, timeout=timeout)
        except ConnectionError as error:
            if self.manager is None:
                raise
            raise self._why_managed_host_is_gone() or error

    async def apost_call(self, path, body, timeout):
        """post_call for asyncio: the call itself never blocks the event loop.

        The first call connects in a worker thread (a manager may have to start a host).
        """
        import asyncio  # here: a process without async code should not import it (~25 ms)

        self._follow_settings()
        if self._status is None:
            await asyncio.to_thread(self.connect)
        try:
            return await self.async_transport.request("POST", path, body, JSON_HEADERS, timeout=timeout)
        except ConnectionError as error:
            if self.manager is None:
                raise
            raise (await asyncio.to_thread(self._why_managed_host_is_gone)) or error

    def _why_managed_host_is_gone(self):
        """A ProcessError naming the logfile if our managed host died; None if it did not.

        The manager learns of a death a moment after the socket breaks, so wait briefly for
        its account of how it went; also while the pid still exists, since a dying process
        closes its sockets before it is gone.
        """
        pid = (self._status or {}).get("pid")
        deadline = time.monotonic() + DEATH_NOTICE_TIMEOUT
        while True:
            try:
                info = self.manager.host_status(self.config_file)
            except UnknownHost:
                return ProcessError(
                    f"The JS host for {self.config_file} was stopped (host.stop() or "
                    "`manage.py jshost stop`); host.connect() starts a new one."
                )
            except JSHostError as error:
                return ProcessError(
                    f"The JS host for {self.config_file} is gone, and so is its manager "
                    f"({error}). Start a new Python process, or call host.connect()."
                )
            if info["state"] == "exited":
                break
            if info["pid"] != pid or time.monotonic() > deadline:
                return None  # a new host, or ours lives on: the connection error stands
            time.sleep(0.02)
        exit = info.get("exit") or {}
        how = f"signal {exit['signal']}" if exit.get("signal") else f"exit code {exit.get('code')}"
        return ProcessError(
            f"The JS host for {self.config_file} died ({how}); its logfile {info['logfile']} "
            "says why. It is not restarted behind your back: call host.restart(), or start a "
            "new Python process."
        )


def source_hash(paths):
    """The host's sourceHash of ``paths``, recomputed from the files as they are now."""
    digest = hashlib.sha1()
    for path in paths:
        try:
            with open(path, "rb") as source:
                part = hashlib.sha1(source.read()).hexdigest()
        except OSError:
            part = "missing"
        digest.update(f"{path}\0{part}\n".encode())
    return digest.hexdigest()


def read_config(node, bin_path, config_file, source_root):
    """Run the packaged CLI with --config and return the host config it prints."""
    import subprocess  # here: a process that never reads a config pays nothing for it

    command = [node, bin_path, config_file, "--config"]
    try:
        finished = subprocess.run(
            command, cwd=source_root, capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError as error:
        raise node_not_found(node if error.filename in (None, node) else error.filename) from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"`{' '.join(command)}` did not finish within 30 s") from None
    if finished.returncode != 0:
        raise ConfigError(
            f"The config file {config_file} does not load:\n{finished.stderr.strip()}"
        )
    try:
        return json.loads(finished.stdout)["config"]
    except (ValueError, KeyError):
        raise ConfigError(
            f"`{' '.join(command)}` printed no host config; is PATH_TO_BIN ({bin_path}) "
            f"the js-host CLI? It printed: {finished.stdout[:200]!r}"
        ) from None


def _url_host(address):
    if address in ("0.0.0.0", "::", ""):
        return "127.0.0.1"  # listening everywhere includes loopback, the fastest way in
    return url_host(address)


def _same_file(a, b):
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


host = JSHost()

