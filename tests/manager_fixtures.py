"""Real development managers for tests, each stopped afterwards with its hosts, by PID.

    @pytest.fixture
    def managed(settings, project, manager_port):
        settings.JS_HOST = managed_js_host(project, manager_port)
        with managed_hosts(manager_port) as manager:
            yield manager

The manager is started for real by the first ``host.connect()`` (or call) of the test.
"""

import json
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from django_js_host.manager import JSHostManager

from .hosts import FIXTURE_CONFIG, free_port
from .processes import alive, stop_by_pid, wait_until

DISCONNECT_TIMEOUT = 0.5
REPO = Path(__file__).resolve().parent.parent


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
def managed_hosts(manager_port):
    """The manager at ``manager_port`` (not started yet); stopped with its hosts on exit."""
    manager = JSHostManager(port=manager_port)
    try:
        yield manager
    finally:
        stop_manager_and_hosts(manager)


@pytest.fixture
def manager_port():
    return free_port()


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


def managed_js_host(project, manager_port, **more):
    """JS_HOST settings that use a private manager at ``manager_port`` for ``project``."""
    return {
        "SOURCE_ROOT": str(project),
        "USE_MANAGER": True,
        "MANAGER_PORT": manager_port,
        "DISCONNECT_TIMEOUT": DISCONNECT_TIMEOUT,
        "CONNECT_ONCE_CONFIGURED": False,
        **more,
    }


@pytest.fixture
def managed(settings, project, manager_port):
    """USE_MANAGER settings for ``project`` on a free manager port; yields the manager."""
    settings.JS_HOST = managed_js_host(project, manager_port)
    with managed_hosts(manager_port) as manager:
        yield manager


def python_process(code, project, manager_port, **settings):
    """A separate Python process configured like the ``managed`` fixture (``settings``
    override), running ``code``; returns its Popen, with stdout and stderr piped."""
    configure = managed_js_host(project, manager_port, **{"VERBOSITY": "DISCONNECT", **settings})
    script = f"from django_js_host.conf import settings\nsettings.configure(**{configure!r})\n" + textwrap.dedent(code)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
