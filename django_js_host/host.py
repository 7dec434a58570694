"""JSHost: a Node host process serving one config file, as Python sees it.

The host itself runs elsewhere (a supervisor in production, the manager in development);
this object reaches it through one link, chosen once per settings from USE_MANAGER (see
links/), asks it for its status, checks that it serves our config file, and sends it
requests.
"""

import json
import os
import threading

from .conf import Verbosity, announce, node_not_found, settings
from .exceptions import ConfigError, ConnectionError, JSHostError, UnexpectedResponse
from .links.direct import DirectLink
from .links.managed import ManagedLink
from .links.manager import manager as default_manager
from .protocol import JSON_TYPE, STATUS_PATH, TOKEN_HEADER, source_hash
from .transport import AsyncTransport, Transport

STATUS_TIMEOUT = 5.0
JSON_HEADERS = {"Content-Type": JSON_TYPE}


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
        self._link = None  # DirectLink or ManagedLink, for the settings below
        self._settings_seen = None  # the resolved settings the link was chosen under
        self._transport = None
        self._async_transport = None
        self._status = None  # what the host reported when we connected

    def __repr__(self):
        return f"<JSHost {self.config_file}>"

    @property
    def link(self):
        """How we reach the host, looked at again when the settings change.

        So the default host follows override_settings (and pytest-django's ``settings``):
        what it learnt is forgotten, and another CONFIG_FILE or USE_MANAGER is another link.
        The same link is kept otherwise, with its connection to a managed host.
        """
        resolved = settings.as_dict()
        if resolved is not self._settings_seen:
            self._forget_host()
            manager = self._manager or (default_manager if resolved["USE_MANAGER"] else None)
            link, config_file = self._link, self.config_file
            if link is None or link.manager is not manager or link.config_file != config_file:
                if manager is None:
                    self._link = DirectLink(config_file, self.get_config)
                else:
                    self._link = ManagedLink(manager, config_file)
            elif manager is not None:
                link.forget()  # asks the manager again, under the new settings
            self._settings_seen = resolved
        return self._link

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
        if isinstance(self._link, ManagedLink):
            self._link.forget()

    def _forget_host(self):
        if self._transport is not None:
            self._transport.close()
        self._transport = self._async_transport = None
        self._status = None

    @property
    def config_file(self):
        """Absolute path of the config file this host serves."""
        if self._config_file is None:
            return settings.CONFIG_FILE
        return os.path.join(settings.SOURCE_ROOT, os.fspath(self._config_file))

    @property
    def manager(self):
        """The JSHostManager that runs this host, or None when it runs on its own."""
        return self.link.manager

    @property
    def logfile(self):
        """The file a managed host writes its output to (connects first if need be)."""
        link = self.link
        if link.manager is None:
            raise ConfigError(
                "Only a managed host (USE_MANAGER=True) has a logfile of ours; a host you run "
                "yourself logs to its stdout and stderr, or to its --logfile."
            )
        if not link.connected:
            self.connect()
        return link.info["logfile"]

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
        """Where requests for this host go: ROOT_URL if set, else the host's own socket
        (``unix:/path``) or address."""
        link = self.link
        if link.manager is not None and not link.connected:
            self.connect()
        return link.url()

    @property
    def transport(self):
        """The Transport to our URL; made once, and again when the URL changes."""
        self.link  # noqa: B018 (first: it forgets the transport if the settings changed)
        transport = self._transport
        if transport is None:
            transport = self._transport = Transport(self.get_url(), token_headers())
        return transport

    @property
    def async_transport(self):
        """The AsyncTransport to our URL, for acall."""
        self.link  # noqa: B018
        transport = self._async_transport
        if transport is None:
            transport = self._async_transport = AsyncTransport(self.get_url(), token_headers())
        return transport

    def request_status(self):
        """Ask the running host for its status now, and return it as a dict."""
        response = self.transport.request("GET", STATUS_PATH, timeout=STATUS_TIMEOUT)
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
        self.link  # noqa: B018 (forgets the status if the settings changed)
        if self._status is None:
            self._status = self.request_status()
        return self._status

    def is_running(self):
        """True if a JS host answers at our URL (a managed one is not started to find out)."""
        link = self.link
        try:
            if link.manager is not None and not link.connected:
                return link.manager.host_status(self.config_file)["state"] == "running"
            self.request_status()
        except JSHostError:
            return False
        return True

    def is_stale(self, status=None):
        """True if the host's JS files changed since it loaded them (it runs old code)."""
        config = (status or self.get_status())["config"]
        return source_hash(config["sourceFiles"]) != config["sourceHash"]

    def connect(self):
        """Connect to the host, starting it through the manager if we use one.

        A host we do not manage must serve our config file: another project's host at the
        same address is refused.
        """
        link = self.link
        with self._lock:
            status = link.connect(self.request_status)
            if self._transport is not None and self._transport.base_url != link.url():
                self._forget_host()  # a new manager started the host on another socket
            self._status = status
        url = link.url()
        announce(Verbosity.CONNECT, f"Connected to JSHost [{url}] serving {self.config_file}")
        announce(Verbosity.VERBOSE, f"JSHost status: {json.dumps(status)}")
        if link.runs_old_code(status, self.is_stale):
            announce(
                Verbosity.PROCESS_START,
                f"JSHost [{url}] runs an older version of {self.config_file} or the "
                "files it requires: restart it to load the current code.",
            )
        return status

    def disconnect(self):
        """Close this process's connection to a managed host (done for you at exit)."""
        link = self.link
        if link.manager is not None:
            link.disconnect()

    def restart(self):
        """Ask the manager to restart the host: same socket and logfile, connections kept."""
        link = self._require_manager("restart")
        with self._lock:
            info = link.restart()
            self._status = info["status"]
        announce(Verbosity.PROCESS_START, f"Restarted JSHost [{info['url']}] for {self.config_file}")
        return info

    def stop(self):
        """Ask the manager to stop the host now."""
        info = self._require_manager("stop").stop()
        self.reset()
        return info

    def _require_manager(self, action):
        link = self.link
        if link.manager is None:
            raise ConfigError(
                f"Only a managed host (USE_MANAGER=True) can be told to {action} from Python; "
                "a host you run yourself answers to its supervisor."
            )
        return link

    def post_call(self, path, body, timeout):
        """POST a call (``/function/<name>?hash=...`` or ``/batch/...``) with its JSON body;
        returns the transport's Response for Function to decode.

        The first call connects, so no call ever reaches a host serving another config.
        """
        link = self.link
        if self._status is None:
            self.connect()
        try:
            return (self._transport or self.transport).request("POST", path, body, JSON_HEADERS, timeout=timeout)
        except ConnectionError as error:
            raise link.why_gone(self._status) or error

    async def apost_call(self, path, body, timeout):
        """post_call for asyncio: the call itself never blocks the event loop.

        The first call connects in a worker thread (a manager may have to start a host).
        """
        import asyncio  # here: a process without async code should not import it (~25 ms)

        link = self.link
        if self._status is None:
            await asyncio.to_thread(self.connect)
        try:
            return await self.async_transport.request("POST", path, body, JSON_HEADERS, timeout=timeout)
        except ConnectionError as error:
            raise (await asyncio.to_thread(link.why_gone, self._status)) or error


def connect_default_host():
    """Connect to the default host, then close the sockets that opened (a process may fork
    next: gunicorn --preload, multiprocessing). Errors (ConfigError, ConnectionError,
    ProcessError ...) propagate, naming the file, URL or logfile at fault."""
    try:
        host.connect()
    finally:
        host.close_connections()


def token_headers():
    """What every request carries for a host that requires a token (JS_HOST['TOKEN'])."""
    return {TOKEN_HEADER: settings.TOKEN} if settings.TOKEN else None


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


host = JSHost()

