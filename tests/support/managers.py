"""Real development managers for tests, each stopped afterwards with its hosts, by PID.

Each test's manager lives in a private directory of its own (under ``runtime_dir``), so
no test shares a manager with another, or with a developer's.

    @pytest.fixture
    def managed(settings, project, runtime_dir):
        settings.JS_HOST = managed_js_host(project, runtime_dir)
        with managed_hosts(runtime_dir) as manager:
            yield manager

The manager is started for real by the first ``host.connect()`` (or call) of the test.
"""

import json
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager

import pytest

from django_js_host.links.manager import JSHostManager

from .dirs import short_temp_dir
from .hosts import FIXTURE_CONFIG
from .paths import REPO
from .processes import alive, stop_by_pid, stop_popen, wait_until

DISCONNECT_TIMEOUT = 0.5


def stop_manager_and_hosts(manager):
    """Ask ``manager`` to stop with its hosts; make sure, by PID, that they all went."""
    try:
        status = manager.get_status()
    except Exception:
        return  # no manager: it exited with its last host, or never started
    host_pids = [host["pid"] for host in status["hosts"] if host["pid"]]
    manager.stop()
    stopped = wait_until(lambda: not any(alive(pid) for pid in [status["pid"], *host_pids]))
    for pid in [status["pid"], *host_pids]:
        stop_by_pid(pid)
    assert stopped, f"the manager (pid {status['pid']}) or its hosts {host_pids} did not stop when asked"


@contextmanager
def managed_hosts(runtime_dir):
    """The manager of ``runtime_dir`` (not started yet); stopped with its hosts on exit."""
    manager = JSHostManager(runtime_dir=str(runtime_dir))
    try:
        yield manager
    finally:
        stop_manager_and_hosts(manager)


@pytest.fixture
def runtime_dir():
    """A RUNTIME_DIR of the test's own: its manager's private directory goes inside."""
    with short_temp_dir() as path:
        yield path


@pytest.fixture
def project(tmp_path):
    """A project directory whose host.config.js uses the fixture functions and a local helper."""
    (tmp_path / "greeting.js").write_text("module.exports = (name) => 'Hello, ' + name + '!';\n")
    (tmp_path / "host.config.js").write_text(
        textwrap.dedent(
            f"""
            const greeting = require('./greeting');
            const fixture = require({json.dumps(str(FIXTURE_CONFIG))});
            module.exports = {{functions: {{
              ...fixture.functions,
              greet: (data, cb) => cb(null, greeting(data.name)),
            }}}};
            """
        )
    )
    return tmp_path


def managed_js_host(project, runtime_dir, **more):
    """JS_HOST settings that use the manager of ``runtime_dir`` for ``project``."""
    return {
        "SOURCE_ROOT": str(project),
        "USE_MANAGER": True,
        "RUNTIME_DIR": str(runtime_dir),
        "DISCONNECT_TIMEOUT": DISCONNECT_TIMEOUT,
        "CONNECT_ONCE_CONFIGURED": False,
        **more,
    }


@pytest.fixture
def managed(settings, project, runtime_dir):
    """USE_MANAGER settings for ``project`` with a manager of its own; yields the manager."""
    settings.JS_HOST = managed_js_host(project, runtime_dir)
    with managed_hosts(runtime_dir) as manager:
        yield manager


def run_managed_python(code, project, runtime_dir, timeout=60, **settings):
    """Run ``code`` in a ``python_process`` to its end (stopped by PID if it outlives
    ``timeout``); returns (returncode, stdout, stderr)."""
    process = python_process(code, project, runtime_dir, **settings)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        stop_popen(process)
    return process.returncode, out, err


def python_process(code, project, runtime_dir, **settings):
    """A separate Python process configured like the ``managed`` fixture (``settings``
    override), running ``code``; returns its Popen, with stdout and stderr piped."""
    configure = managed_js_host(project, runtime_dir, **{"VERBOSITY": "DISCONNECT", **settings})
    script = f"from django_js_host.conf import settings\nsettings.configure(**{configure!r})\n" + textwrap.dedent(code)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
