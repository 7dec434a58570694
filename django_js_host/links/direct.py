"""A host you run yourself (a supervisor in production, a terminal in development).

Python finds it where its config file says (``socket``, else ``address`` and ``port``), or
goes through ROOT_URL (a proxy, possibly to other machines). It must serve our config file:
another project's host at the same address is refused.
"""

import os

from ..conf import settings
from ..exceptions import ConfigError
from ..transport import unix_url, url_host


class DirectLink:
    """``read_config()`` returns the host config of our config file (JSHost caches it)."""

    manager = None

    def __init__(self, config_file, read_config):
        self.config_file = config_file
        self._read_config = read_config

    def url(self):
        if settings.ROOT_URL:
            return settings.ROOT_URL.rstrip("/")
        config = self._read_config()
        if config.get("socket"):
            return unix_url(config["socket"])
        return "http://{}:{}".format(_reachable_host(config["address"]), config["port"])

    def connect(self, request_status):
        """The host's status, once it is known to serve our config file.

        Behind ROOT_URL the path on the far side may differ, so there only "a JS host
        answers" is checked.
        """
        status = request_status()
        served = status.get("config", {}).get("configFile")
        if not settings.ROOT_URL and not _same_file(served, self.config_file):
            raise ConfigError(
                f"The JS host at {self.url()} serves {served}, not {self.config_file}. "
                "Another project's host may be using this address: stop it, or give this "
                "project's config another port or socket."
            )
        return status

    def runs_old_code(self, status, is_stale):
        # Behind ROOT_URL the host's files may be on another machine: no comparing there.
        return not settings.ROOT_URL and is_stale(status)

    def why_gone(self, status):
        """Nothing to add to a connection error: we do not run this host."""
        return None


def _reachable_host(address):
    if address in ("0.0.0.0", "::", ""):
        return "127.0.0.1"  # listening everywhere includes loopback, the fastest way in
    return url_host(address)


def _same_file(a, b):
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False
