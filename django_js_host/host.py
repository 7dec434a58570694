"""JSHost: a Node host process serving one config file, as Python sees it.

The host itself runs elsewhere (a supervisor in production, the manager in development);
this object knows where to find it, asks it for its status, checks that it serves our
config file, and sends it requests.
"""

import json
import os
import subprocess
import threading

from django.core.signals import setting_changed

from .conf import Verbosity, announce, settings
from .exceptions import ConfigError, ConnectionError, FunctionTimeout, UnexpectedResponse
from .transport import Transport

STATUS_TIMEOUT = 5.0


class JSHost:
    """A host for one config file.

    ``config_file`` defaults to the CONFIG_FILE setting, read each time it is needed, so the
    default ``host`` follows settings changes (override_settings in tests).
    """

    def __init__(self, config_file=None):
        self._config_file = config_file
        self._lock = threading.Lock()
        self._config_cache = {}  # (node, bin, config file, source root) -> config dict
        self._transport = None
        self._status = None

    def __repr__(self):
        return f"<JSHost {self.config_file}>"

    def reset(self):
        """Forget what we learnt about the host (config, status, connections)."""
        if self._transport is not None:
            self._transport.close()
        self._config_cache = {}
        self._transport = None
        self._status = None

    @property
    def config_file(self):
        """Absolute path of the config file this host serves."""
        if self._config_file is None:
            return settings.CONFIG_FILE
        return os.path.join(settings.SOURCE_ROOT, os.fspath(self._config_file))

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
        if settings.ROOT_URL:
            return settings.ROOT_URL.rstrip("/")
        config = self.get_config()
        return "http://{}:{}".format(_url_host(config["address"]), config["port"])

    @property
    def transport(self):
        url = self.get_url()
        transport = self._transport
        if transport is None or transport.base_url != url:
            transport = self._transport = Transport(url)
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
        if self._status is None:
            self._status = self.request_status()
        return self._status

    def is_running(self):
        """True if a JS host answers at our URL."""
        try:
            self.request_status()
        except (ConnectionError, FunctionTimeout, UnexpectedResponse):
            return False
        return True

    def connect(self):
        """Check that the host at our URL is running and serves our config file.

        Behind ROOT_URL (a proxy, possibly to other machines) the config file path on the
        far side may differ, so only "a JS host answers" is checked there.
        """
        status = self.request_status()
        served = status.get("config", {}).get("configFile")
        if not settings.ROOT_URL and not _same_file(served, self.config_file):
            raise ConfigError(
                f"The JS host at {self.get_url()} serves {served}, not {self.config_file}. "
                "Another project's host may be using this port: stop it, or give this "
                "project's config another port."
            )
        self._status = status
        announce(Verbosity.CONNECT, f"Connected to JSHost [{self.get_url()}] serving {self.config_file}")
        announce(Verbosity.VERBOSE, f"JSHost status: {json.dumps(status)}")
        return status

    def post_function(self, name, body, digest, timeout):
        """POST a function call; returns the transport's Response for Function to decode.

        The first call connects, so no call ever reaches a host serving another config.
        """
        if self._status is None:
            self.connect()
        return self.transport.request(
            "POST",
            f"/function/{name}?hash={digest}",
            body=body,
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )


def read_config(node, bin_path, config_file, source_root):
    """Run the packaged CLI with --config and return the host config it prints."""
    command = [node, bin_path, config_file, "--config"]
    try:
        finished = subprocess.run(
            command, cwd=source_root, capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError as error:
        missing = node if error.filename in (None, node) else error.filename
        raise ConfigError(
            f"Cannot run {missing!r}: not found. Set JS_HOST['PATH_TO_NODE'] to your node "
            "binary (Node.js >= 18), or install Node.js."
        ) from None
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
    return f"[{address}]" if ":" in address else address


def _same_file(a, b):
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


host = JSHost()


def _reset_default_host(setting, **kwargs):
    if setting == "JS_HOST":
        host.reset()


setting_changed.connect(_reset_default_host)
