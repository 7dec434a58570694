"""The example site (example_project/) run for real: its build, its servers, and cleanup by PID.

Each test gives the site a development manager of its own (in a private directory under a
TMPDIR of the test's) and stops that manager and its hosts at the
end, so no test shares a host with another or with a developer's `make example`.
"""

import sys
from contextlib import contextmanager

import pytest

from django_js_host.links.manager import JSHostManager

from .support.dirs import short_temp_dir
from .support.hosts import free_port
from .support.managers import stop_manager_and_hosts
from .support.paths import REPO
from .support.servers import project_environ, serving

EXAMPLE_PROJECT = REPO / "example_project"
EXAMPLE_CONFIG = EXAMPLE_PROJECT / "host.config.js"

# What `make example-assets` (npm ci + npm run build:example) makes, and the tests need.
BUILT_FILES = [
    REPO / "node_modules" / "react" / "package.json",
    REPO / "node_modules" / "markdown-it" / "package.json",
    EXAMPLE_PROJECT / "dist" / "server" / "ItemCounter.js",
    EXAMPLE_PROJECT / "dist" / "server" / "SlowPage.js",
    EXAMPLE_PROJECT / "dist" / "static" / "example" / "client.js",
    EXAMPLE_PROJECT / "dist" / "static" / "example" / "slow-page-client.js",
]


def require_example_build():
    """Fail (not skip) with the command to run when the example's JS is not installed and built."""
    missing = [str(path.relative_to(REPO)) for path in BUILT_FILES if not path.exists()]
    if missing:
        pytest.fail(
            f"The example site is not built ({', '.join(missing)} missing): run `make test`, "
            "or `npm ci && npm run build:example` at the top of the repository.",
            pytrace=False,
        )


@contextmanager
def example_manager():
    """A runtime dir for the example's manager; on exit the manager there and its hosts are stopped."""
    with short_temp_dir() as runtime_dir:
        try:
            yield runtime_dir
        finally:
            stop_manager_and_hosts(JSHostManager(runtime_dir=runtime_dir))


def example_server(command, runtime_dir, ready_url, timeout=30):
    """``serving`` a server of the example (``command``, in example_project/) with its
    manager in ``runtime_dir``."""
    env = project_environ("example.settings", runtime_dir, pythonpath=EXAMPLE_PROJECT)
    return serving(command, EXAMPLE_PROJECT, env, ready_url, timeout)


@contextmanager
def example_runserver():
    """The example under ``runserver --noreload`` on a free port, with a manager of its own;
    yields its base URL (``http://127.0.0.1:PORT``)."""
    require_example_build()
    base = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "manage.py", "runserver", "--noreload", base.removeprefix("http://")]
    with example_manager() as runtime_dir:
        with example_server(command, runtime_dir, base + "/"):
            yield base
