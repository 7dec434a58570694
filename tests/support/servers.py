"""Django servers (runserver, gunicorn) of a project other than tests/settings.py, run until
they answer and stopped by PID: the example site, a project `jshost init` set up."""

import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from .processes import stop_popen, wait_until


def project_environ(settings_module, runtime_dir, pythonpath=None):
    """The environment of a process of a Django project whose development manager lives in
    ``runtime_dir`` (its default RUNTIME_DIR is the temp dir, so TMPDIR points there)."""
    env = dict(os.environ)  # keeps the suite's RUN_MARKER, so a leftover would be found
    env.pop("RUN_MAIN", None)
    env.pop("PYTHONPATH", None)
    env["DJANGO_SETTINGS_MODULE"] = settings_module  # pytest-django set tests.settings
    env["TMPDIR"] = str(runtime_dir)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


@contextmanager
def serving(command, cwd, env, ready_url, timeout=30):
    """Run ``command`` (a server) in ``cwd`` until ``ready_url`` answers 200.

    Yields the Popen; on exit stops it by PID (SIGTERM, then SIGKILL) and waits for it. Its
    output goes to a temporary file, shown if it fails to start.
    """
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env,
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
