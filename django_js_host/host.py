"""JSHost: a Node host process serving one config file, as Python sees it.

The host itself runs elsewhere (a supervisor in production, the manager in development);
this object reaches it through one link, chosen once per settings from USE_MANAGER (see
links/), asks it for its status, checks that it serves our config file, and sends it
requests.
"""

from __future__ import annotations

import json
import os
import threading
import time

from .conf import Verbosity, announce, config_does_not_load, node_not_found, settings
from .exceptions import ConfigError, ConnectionError, FunctionTimeout, JSHostError, UnexpectedResponse
from .links.direct import DirectLink
from .links.managed import ManagedLink
from .links.manager import manager as default_manager
from .protocol import STATUS_PATH, TOKEN_HEADER, source_hash
from .transport import AsyncTransport, Transport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from typing import Any

    from .conf import ResolvedSettings
    from .links.manager import JSHostManager
    from .transport import AsyncStreamedAnswer, Response, StreamedAnswer

    ConfigKey = tuple[str, str, str, str]  # (node, bin, config file, source root)

STATUS_TIMEOUT = 5.0


class JSHost:
    """A host for one config file.

    ``config_file`` defaults to the CONFIG_FILE setting, read each time it is needed, so the
    default ``host`` follows settings changes (override_settings in tests). ``manager``
    defaults to the default manager when USE_MANAGER is on.
    """

    def __init__(
        self, config_file: str | os.PathLike[str] | None = None, manager: JSHostManager | None = None
    ) -> None:
        self._config_file = config_file
        self._manager = manager
        self._lock = threading.RLock()
        self._config_cache: dict[ConfigKey, dict[str, Any]] = {}
        self._link: DirectLink | ManagedLink | None = None  # for the settings below
        self._settings_seen: ResolvedSettings | None = None  # the resolved settings the link was chosen under
        self._transport: Transport | None = None
        self._async_transport: AsyncTransport | None = None
        self._status: dict[str, Any] | None = None  # what the host reported when we connected

    def __repr__(self) -> str:
        return f"<JSHost {self.config_file}>"

    @property
    def link(self) -> DirectLink | ManagedLink:
        """How we reach the host, looked at again when the settings change.

        So the default host follows override_settings (and pytest-django's ``settings``):
        what it learnt is forgotten, and another CONFIG_FILE or USE_MANAGER is another link.
        The same link is kept otherwise, with its connection to a managed host.
        """
        resolved = settings.as_dict()
        link = self._link
        if link is None or resolved is not self._settings_seen:  # None: chosen under no settings yet
            self._forget_host()
            manager = self._manager or (default_manager if resolved["USE_MANAGER"] else None)
            config_file = self.config_file
            if link is None or link.manager is not manager or link.config_file != config_file:
                if manager is None:
                    link = self._link = DirectLink(config_file, self.get_config)
                else:
                    link = self._link = ManagedLink(manager, config_file)
            elif isinstance(link, ManagedLink):  # the same manager's
                link.forget()  # asks the manager again, under the new settings
            self._settings_seen = resolved
        return link

    def close_connections(self) -> None:
        """Close this thread's sockets to the host and its manager; the next call reopens them.

        For code that runs before a fork (AppConfig.ready() under gunicorn --preload), so
        no socket is inherited; config, status and the managed connection are kept.
        """
        if self._transport is not None:
            self._transport.close()
        if self.manager is not None:
            self.manager.close_connections()

    def reset(self) -> None:
        """Forget what we learnt about the host (config, status, connections)."""
        self._config_cache = {}
        self._forget_host()
        if isinstance(self._link, ManagedLink):
            self._link.forget()

    def _forget_host(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = self._async_transport = None
        self._status = None

    @property
    def config_file(self) -> str:
        """Absolute path of the config file this host serves."""
        if self._config_file is None:
            return settings.CONFIG_FILE
        return os.path.join(settings.SOURCE_ROOT, os.fspath(self._config_file))

    @property
    def manager(self) -> JSHostManager | None:
        """The JSHostManager that runs this host, or None when it runs on its own."""
        return self.link.manager

    @property
    def logfile(self) -> str:
        """The file a managed host writes its output to (connects first if need be)."""
        link = self.link
        if not isinstance(link, ManagedLink):
            raise ConfigError(
                "Only a managed host (USE_MANAGER=True) has a logfile of ours; a host you run "
                "yourself logs to its stdout and stderr, or to its --logfile."
            )
        if not link.connected:
            self.connect()
        assert link.info is not None  # connected
        logfile: str = link.info["logfile"]
        return logfile

    def get_config(self) -> dict[str, Any]:
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

    def get_url(self) -> str:
        """Where requests for this host go: ROOT_URL if set, else the host's own socket
        (``unix:/path``) or address."""
        link = self.link
        if isinstance(link, ManagedLink) and not link.connected:
            self.connect()
        return link.url()

    @property
    def transport(self) -> Transport:
        """The Transport to our URL; made once, and again when the URL changes."""
        self.link  # noqa: B018 (first: it forgets the transport if the settings changed)
        transport = self._transport
        if transport is None:
            transport = self._transport = Transport(self.get_url(), token_headers())
        return transport

    @property
    def async_transport(self) -> AsyncTransport:
        """The AsyncTransport to our URL, for acall."""
        self.link  # noqa: B018
        transport = self._async_transport
        if transport is None:
            transport = self._async_transport = AsyncTransport(self.get_url(), token_headers())
        return transport

    def request_status(self) -> dict[str, Any]:
        """Ask the running host for its status now, and return it as a dict."""
        response = self.transport.request("GET", STATUS_PATH, timeout=STATUS_TIMEOUT)
        try:
            status = json.loads(response.body) if response.status == 200 else None
        except (ValueError, RecursionError):  # not JSON, or nested past what Python decodes
            status = None
        if not isinstance(status, dict) or status.get("type") != "Host":
            raise UnexpectedResponse(
                f"{response.url} did not answer like a JS host "
                f"(status {response.status}, {response.body[:200]!r})",
                response.status,
                response.body,
            )
        return status

    def get_status(self) -> dict[str, Any]:
        """The status the host reported when we connected (asks it if we never did)."""
        self.link  # noqa: B018 (forgets the status if the settings changed)
        if self._status is None:
            self._status = self.request_status()
        return self._status

    def is_running(self) -> bool:
        """True if a JS host answers at our URL (a managed one is not started to find out)."""
        link = self.link
        try:
            if isinstance(link, ManagedLink) and not link.connected:
                state: str = link.manager.host_status(self.config_file)["state"]
                return state == "running"
            self.request_status()
        except JSHostError:
            return False
        return True

    def is_stale(self, status: dict[str, Any] | None = None) -> bool:
        """True if the host's JS files changed since it loaded them (it runs old code)."""
        config = (status or self.get_status())["config"]
        loaded: str = config["sourceHash"]
        return source_hash(config["sourceFiles"]) != loaded

    def connect(self) -> dict[str, Any]:
        """Connect to the host, starting it through the manager if we use one.

        A host we do not manage must serve our config file: another project's host at the
        same address is refused.
        """
        link = self.link
        with self._lock:
            status = link.connect(self.request_status)
            url = link.url()
            if self._transport is not None and self._transport.base_url != url:
                self._forget_host()  # a new manager started the host on another socket
            self._status = status
        announce(Verbosity.CONNECT, f"Connected to JSHost [{url}] serving {self.config_file}")
        announce(Verbosity.VERBOSE, f"JSHost status: {json.dumps(status)}")
        if link.runs_old_code(status, self.is_stale):
            announce(
                Verbosity.PROCESS_START,
                f"JSHost [{url}] runs an older version of {self.config_file} or the "
                "files it loaded: restart it to load the current code.",
            )
        return status

    def disconnect(self) -> None:
        """Close this process's connection to a managed host (done for you at exit)."""
        link = self.link
        if isinstance(link, ManagedLink):
            link.disconnect()

    def restart(self) -> dict[str, Any]:
        """Ask the manager to restart the host: same socket and logfile, connections kept."""
        link = self._require_manager("restart")
        with self._lock:
            info = link.restart()
            self._status = info["status"]
        announce(Verbosity.PROCESS_START, f"Restarted JSHost [{info['url']}] for {self.config_file}")
        return info

    def stop(self) -> dict[str, Any]:
        """Ask the manager to stop the host now."""
        info = self._require_manager("stop").stop()
        self.reset()
        return info

    def _require_manager(self, action: str) -> ManagedLink:
        link = self.link
        if not isinstance(link, ManagedLink):
            raise ConfigError(
                f"Only a managed host (USE_MANAGER=True) can be told to {action} from Python; "
                "a host you run yourself answers to its supervisor."
            )
        return link

    def last_reached(self) -> tuple[str | None, int | None]:
        """(URL, pid) of the host as we last reached it, or Nones; asks nothing, so it cannot
        fail or wait: for reports (the debug toolbar's panel)."""
        transport = self._transport or self._async_transport
        pid = self._status.get("pid") if self._status else None
        return (transport.base_url if transport else None), pid

    def post_call(self, path: str, body: bytes, timeout: float, request_id: str) -> Response:
        """POST a call (``/function/<name>?hash=...`` or ``/batch/...``) with its JSON body
        and its request id (request_id.py); returns the transport's Response for Function to
        decode.

        The first call connects, so no call ever reaches a host serving another config. A
        call whose managed host went away is sent again once the manager has a host for it
        (links/managed.py), within ``timeout``.
        """
        link = self.link
        if self._status is None:
            self.connect()
        self._refuse_over_limit(path, body)
        deadline = time.monotonic() + timeout
        left = timeout
        while True:
            try:
                return (self._transport or self.transport).post_json(path, body, left, request_id)
            except ConnectionError as error:
                if not self._reconnect_after(link, error, deadline):
                    raise
            left = self._time_left(deadline, timeout)

    def post_stream(self, path: str, body: bytes, timeout: float, request_id: str) -> StreamedAnswer:
        """post_call for a streamed call (``/stream/<name>?hash=...``): returns the answer
        once its head is in, its body to be read as it comes (``timeout`` covers it all).
        (post_call's loop written again rather than shared: a shared one would cost every
        call a function call.)"""
        link = self.link
        if self._status is None:
            self.connect()
        self._refuse_over_limit(path, body)
        deadline = time.monotonic() + timeout
        left = timeout
        while True:
            try:
                return (self._transport or self.transport).post_stream(path, body, left, request_id)
            except ConnectionError as error:
                if not self._reconnect_after(link, error, deadline):
                    raise
            left = self._time_left(deadline, timeout)

    def _reconnect_after(self, link: DirectLink | ManagedLink, error: ConnectionError, deadline: float) -> bool:
        """After a call's ConnectionError: True once connected again to a host the call may
        be sent to; False if the error stands. Raises what the link knows instead (a dead
        host's ProcessError, a config's ConfigError), with the ConnectionError as context."""
        if not link.await_host(error, self._status, deadline):
            return False
        self.connect()
        return True

    def _time_left(self, deadline: float, timeout: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FunctionTimeout(
                f"No answer from the JS host for {self.config_file} within {timeout:g} s: "
                "it was away (restarting or started anew) for most of that time."
            )
        return left

    def _refuse_over_limit(self, path: str, body: bytes) -> None:
        """Raise the host's 413 for a body over its requestDataLimit (which its status
        says) without sending it: a host refuses a body far over it before reading it, so
        the send would fail, and tens of MB would be sent for nothing."""
        limit = self._status.get("config", {}).get("requestDataLimit") if self._status else None
        if isinstance(limit, int) and len(body) > limit:
            url = (self._transport or self.transport).url_of(path.partition("?")[0])
            raise UnexpectedResponse(
                f"{url} would have answered 413: the body of {len(body)} bytes is over the host's "
                f"requestDataLimit of {limit} bytes (not sent)",
                413,
                b"",
            )

    async def apost_call(self, path: str, body: bytes, timeout: float, request_id: str) -> Response:
        """post_call for asyncio: the call itself never blocks the event loop.

        The first call connects in a worker thread (a manager may have to start a host).
        """
        import asyncio  # here: a process without async code should not import it (~25 ms)

        link = self.link
        if self._status is None:
            await asyncio.to_thread(self.connect)
        self._refuse_over_limit(path, body)
        deadline = time.monotonic() + timeout
        left = timeout
        while True:
            try:
                return await self.async_transport.post_json(path, body, left, request_id)
            except ConnectionError as error:
                if not await asyncio.to_thread(self._reconnect_after, link, error, deadline):
                    raise
            left = self._time_left(deadline, timeout)

    async def apost_stream(self, path: str, body: bytes, timeout: float, request_id: str) -> AsyncStreamedAnswer:
        """post_stream for asyncio (its loop written again, as post_stream's)."""
        import asyncio

        link = self.link
        if self._status is None:
            await asyncio.to_thread(self.connect)
        self._refuse_over_limit(path, body)
        deadline = time.monotonic() + timeout
        left = timeout
        while True:
            try:
                return await self.async_transport.post_stream(path, body, left, request_id)
            except ConnectionError as error:
                if not await asyncio.to_thread(self._reconnect_after, link, error, deadline):
                    raise
            left = self._time_left(deadline, timeout)


def connect_default_host() -> None:
    """Connect to the default host, then close the sockets that opened (a process may fork
    next: gunicorn --preload, multiprocessing). Errors (ConfigError, ConnectionError,
    ProcessError ...) propagate, naming the file, URL or logfile at fault."""
    try:
        host.connect()
    finally:
        host.close_connections()


def token_headers() -> dict[str, str] | None:
    """What every request carries for a host that requires a token (JS_HOST['TOKEN'])."""
    return {TOKEN_HEADER: settings.TOKEN} if settings.TOKEN else None


def read_config(node: str, bin_path: str, config_file: str, source_root: str) -> dict[str, Any]:
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
        raise config_does_not_load(config_file, finished.stderr)
    try:
        config: dict[str, Any] = json.loads(finished.stdout)["config"]
    except (ValueError, KeyError):
        raise ConfigError(
            f"`{' '.join(command)}` printed no host config; is PATH_TO_BIN ({bin_path}) "
            f"the js-host CLI? It printed: {finished.stdout[:200]!r}"
        ) from None
    return config


host = JSHost()

