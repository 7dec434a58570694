"""A host you run yourself (a supervisor in production, a terminal in development).

Python finds it where its config file says (``socket``, else ``address`` and ``port``), or
goes through ROOT_URL (a proxy, possibly to other machines). It must serve our config file:
another project's host at the same address is refused.
"""

from __future__ import annotations

import os

from ..conf import settings
from ..exceptions import ConfigError, ConnectionError
from ..transport import unix_url, url_host

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class DirectLink:
    """``read_config()`` returns the host config of our config file (JSHost caches it)."""

    manager: None = None

    def __init__(self, config_file: str, read_config: Callable[[], dict[str, Any]]) -> None:
        self.config_file = config_file
        self._read_config = read_config

    def url(self) -> str:
        if settings.ROOT_URL:
            return settings.ROOT_URL.rstrip("/")
        config = self._read_config()
        if config.get("socket"):
            return unix_url(config["socket"])
        return "http://{}:{}".format(_reachable_host(config["address"]), config["port"])

    def connect(self, request_status: Callable[[], dict[str, Any]]) -> dict[str, Any]:
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

    def runs_old_code(self, status: dict[str, Any], is_stale: Callable[[dict[str, Any]], bool]) -> bool:
        # Behind ROOT_URL the host's files may be on another machine: no comparing there.
        return not settings.ROOT_URL and is_stale(status)

    def await_host(self, error: ConnectionError, status: dict[str, Any] | None, deadline: float) -> bool:
        """Never: the error stands, for we do not run this host and nothing tells us of a
        new one."""
        return False


def _reachable_host(address: str) -> str:
    if address in ("0.0.0.0", "::", ""):
        return "127.0.0.1"  # listening everywhere includes loopback, the fastest way in
    return url_host(address)


def _same_file(a: str | None, b: str) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False
