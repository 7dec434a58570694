"""A real Django site for the integration tests: its host, and Django processes running it.

The site is tests/settings.py (tests/urls.py, tests/templates/) with the functions of
tests/fixtures/django/site.config.js. Subprocess tests (runserver, shell, manage.py check,
`jshost start`) run ``python -m django`` with a settings module written for the test, so
JS_HOST can name a host on a free port.
"""

import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from .hosts import FIXTURES, free_port, js_host_for_test, running_host, write_config
from .paths import REPO
from .processes import children_of, wait_until

SITE_CONFIG = FIXTURES / "django" / "site.config.js"


@pytest.fixture(scope="session")
def site_host(tmp_path_factory):
    """A host serving the site's functions on a free port, for the session."""
    config = write_config(tmp_path_factory.mktemp("site"), free_port(), functions_from=SITE_CONFIG)
    with running_host(config) as host_process:
        yield host_process


@pytest.fixture
def site_settings(settings, site_host):
    """JS_HOST pointed at the site host."""
    settings.JS_HOST = js_host_for_test(site_host.config_file)
    return settings


# Settings-module code that reports, on stderr, each process that connects to its host.
REPORT_CONNECTS = """
import os, sys
from django_js_host.host import JSHost

def _reporting_connect(self, _connect=JSHost.connect):
    print(f"connect: pid {os.getpid()}, RUN_MAIN={os.environ.get('RUN_MAIN')}", file=sys.stderr, flush=True)
    return _connect(self)

JSHost.connect = _reporting_connect
"""


def settings_module(directory, js_host, code="", **extra):
    """Write ``<directory>/site_settings.py``: tests/settings.py with this JS_HOST; returns its name."""
    lines = ["from tests.settings import *  # noqa: F401,F403", f"JS_HOST = {js_host!r}"]
    lines += [f"{name} = {value!r}" for name, value in extra.items()]
    Path(directory, "site_settings.py").write_text("\n".join(lines) + "\n" + code)
    return "site_settings"


def django_environ(directory, js_host, **settings):
    """The environment of a Django process using a settings module written for the test."""
    env = dict(os.environ)  # keeps the suite's RUN_MARKER, so a leftover would be found
    env.pop("RUN_MAIN", None)
    env["DJANGO_SETTINGS_MODULE"] = settings_module(directory, js_host, **settings)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(directory)])
    return env


def run_python(directory, js_host, *args, timeout=60, **settings):
    """Run ``python ARGS`` with those settings to the end; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=directory, env=django_environ(directory, js_host, **settings),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def run_django(directory, js_host, *args, **settings):
    """Run ``python -m django ARGS`` to the end; returns the CompletedProcess."""
    return run_python(directory, js_host, "-m", "django", *args, **settings)


def start_python(directory, js_host, *args, **settings):
    """Start ``python ARGS`` with those settings and piped output; stop it with ``stop_process_tree``."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=directory, env=django_environ(directory, js_host, **settings),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def start_django(directory, js_host, *args, **settings):
    """Start ``python -m django ARGS``: see start_python."""
    return start_python(directory, js_host, "-m", "django", *args, **settings)


class RunningServer:
    """``python -m django runserver`` with its autoreloader, on a free port, as a developer
    runs it. What it prints is read all along (a pipe nobody reads would fill with its
    request log and stop it), and kept in ``out`` and ``err``."""

    def __init__(self, directory, js_host, **settings):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = start_django(
            directory, js_host, "runserver", f"127.0.0.1:{port}", ALLOWED_HOSTS=["127.0.0.1"], **settings
        )
        self._lines = {"out": [], "err": []}
        self._readers = [
            threading.Thread(target=self._read, args=(stream, self._lines[name]), daemon=True)
            for name, stream in (("out", self.process.stdout), ("err", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.append(line)

    @property
    def out(self):
        return "".join(self._lines["out"])

    @property
    def err(self):
        return "".join(self._lines["err"])

    def get(self, path):
        """(status, body) of GET ``path``; (None, reason) when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            return None, str(error)

    def serving_pid(self):
        """The pid of the process that serves: the autoreloader's child, which it replaces
        when a file it watches changes."""
        children = children_of(self.process.pid)
        return children[0] if len(children) == 1 else None

    def stop(self, timeout=10):
        signal_process_tree(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout)  # at the end of its pipe, now that the process is gone
        self.process.stdout.close()
        self.process.stderr.close()


@contextmanager
def running_server(directory, js_host, **settings):
    """A RunningServer, serving once this yields; stopped with its child, by PID."""
    server = RunningServer(directory, js_host, **settings)
    try:
        assert wait_until(lambda: server.get("/")[0] is not None, timeout=30), server.err
        yield server
    finally:
        server.stop()


def signal_process_tree(process, sig):
    """Signal ``process``'s children, then ``process``, each by PID."""
    for child in children_of(process.pid):
        try:
            os.kill(child, sig)
        except ProcessLookupError:
            pass
    if process.poll() is None:
        process.send_signal(sig)


def stop_process_tree(process, sig=signal.SIGTERM, timeout=10):
    """Signal ``process``'s children, then ``process``, each by PID; wait; return (rc, out, err)."""
    signal_process_tree(process, sig)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err

