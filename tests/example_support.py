"""The example site (example_project/) run for real: its processes, and cleanup by PID.

Each test gives the site a development manager of its own (in a private directory under a
TMPDIR of the test's) and stops that manager and its hosts at the
end, so no test shares a host with another or with a developer's `make example`.
"""

import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from django_js_host.links.manager import JSHostManager

from .support.dirs import short_temp_dir
from .support.managers import stop_manager_and_hosts
from .support.paths import REPO
from .support.processes import stop_popen, wait_until

EXAMPLE_PROJECT = REPO / "example_project"
EXAMPLE_CONFIG = EXAMPLE_PROJECT / "host.config.js"

# What `make example-assets` (npm ci + npm run build:example) makes, and the tests need.
BUILT_FILES = [
    REPO / "node_modules" / "react" / "package.json",
    REPO / "node_modules" / "markdown-it" / "package.json",
    EXAMPLE_PROJECT / "dist" / "server" / "ItemCounter.js",
    EXAMPLE_PROJECT / "dist" / "static" / "example" / "client.js",
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


def example_environ(runtime_dir):
    """The environment of a process running the example site with its manager in ``runtime_dir``."""
    env = dict(os.environ)  # keeps the suite's RUN_MARKER, so a leftover would be found
    env.pop("RUN_MAIN", None)
    env["DJANGO_SETTINGS_MODULE"] = "example.settings"  # pytest-django set tests.settings
    env["TMPDIR"] = str(runtime_dir)  # where the default RUNTIME_DIR is
    env["PYTHONPATH"] = str(EXAMPLE_PROJECT)
    return env


@contextmanager
def example_server(command, runtime_dir, ready_url, timeout=30):
    """Run ``command`` (a server of the example) in example_project/ until ``ready_url`` answers 200.

    Yields the Popen; on exit stops it by PID (SIGTERM, then SIGKILL) and waits for it. Its
    output goes to a temporary file, shown if it fails to start.
    """
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            command, cwd=EXAMPLE_PROJECT, env=example_environ(runtime_dir),
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            if not wait_until(lambda: process.poll() is not None or answers(ready_url), timeout):
                pytest.fail(f"{command} did not answer at {ready_url} within {timeout} s:\n{read(output)}")
            if process.poll() is not None:
                pytest.fail(f"{command} exited with {process.returncode}:\n{read(output)}")
            yield process
        finally:
            stop_popen(process)


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def read(output):
    output.flush()
    output.seek(0)
    return output.read()


def get(url, timeout=10):
    """(status, headers, body text) of GET ``url``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.headers, response.read().decode()
