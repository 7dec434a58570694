"""A real supervisord runs the host from docs/deployment.rst's ``[program:js-host]`` block,
on the Unix socket that the documented host config names.

Only the example's paths, socket and user are replaced (tests/deployment_docs.py), so these
tests prove the documented blocks: Python, with the documented settings, finds the socket
in the config file and calls through it; ``supervisorctl stop`` loses no call in flight and
leaves no socket file; a restart or a host that dies brings a new host on the same socket.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from django_js_host import Function
from django_js_host.host import host

from .deployment_docs import (
    PROJECT,
    django_settings,
    host_status,
    supervisor_program,
    write_socket_project,
)
from .support.dirs import short_temp_dir
from .support.processes import alive, stop_by_pid, stop_popen, wait_until

VENV_BIN = Path(sys.executable).parent
SUPERVISORD = VENV_BIN / "supervisord"
SUPERVISORCTL = VENV_BIN / "supervisorctl"

START_TIMEOUT = 30  # seconds for supervisord to start node and node to listen, on a busy machine

SUPERVISORD_CONF = """\
[unix_http_server]
file={socket}
chmod=0700

[supervisord]
nodaemon=true
pidfile={directory}/supervisord.pid
logfile={directory}/supervisord.log
childlogdir={directory}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{socket}

"""


class Supervised:
    """A supervisord we started, running the documented program on ``socket_path``."""

    def __init__(self, process, conf, project, log_dir, socket_path):
        self.process = process
        self.conf = conf
        self.project = project
        self.log_dir = log_dir
        self.socket_path = socket_path
        self.host_pids = set()  # every host pid seen, so none can outlive the test

    def ctl(self, *args):
        """Run ``supervisorctl ARGS`` against our supervisord; returns the CompletedProcess."""
        return subprocess.run(
            [SUPERVISORCTL, "-c", self.conf, *args],
            check=False, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def wait_for_host(self, other_than=None):
        """The status of the host once it answers (a pid other than ``other_than``)."""
        found = {}

        def answers():
            if self.process.poll() is not None:
                pytest.fail(f"supervisord exited ({self.process.returncode}):\n{self.logs()}")
            status = host_status(self.socket_path, timeout=2)
            if status is None or status["pid"] == other_than:
                return False
            found.update(status)
            return True

        if not wait_until(answers, timeout=START_TIMEOUT, interval=0.1):
            pytest.fail(f"supervisord started no host on {self.socket_path}:\n{self.logs()}")
        self.host_pids.add(found["pid"])
        return found

    def host_log(self):
        path = self.log_dir / "js-host.log"
        return path.read_text() if path.exists() else ""

    def supervisord_log(self):
        path = self.conf.parent / "supervisord.log"
        return path.read_text() if path.exists() else ""

    def logs(self):
        return f"supervisord.log:\n{self.supervisord_log()}\njs-host.log:\n{self.host_log()}"


MANAGE_PY = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

SITE_SETTINGS = """\
SECRET_KEY = "tests-only"
INSTALLED_APPS = ["django_js_host"]
"""


def write_django_project(project):
    """Make ``project`` a Django project whose JS_HOST is the documented one."""
    (project / "manage.py").write_text(MANAGE_PY)
    js_host = django_settings("django-settings-socket", {f"'{PROJECT}'": repr(str(project))})
    (project / "site_settings.py").write_text(SITE_SETTINGS + f"JS_HOST = {js_host!r}\n")


@pytest.fixture
def socket_dir():
    """Where the host's socket goes: its path must stay under 108 bytes, which tmp_path may not."""
    with short_temp_dir() as directory:
        yield Path(directory)


@pytest.fixture(params=["node"])
def supervised(request, tmp_path, settings, socket_dir):
    """supervisord running the documented program, and JS_HOST (the documented settings)
    pointed at the project whose config names the host's socket.

    The program runs node (the documented command), or with the parameter "manage.py"
    the documented alternative, ``manage.py jshost start``, in a Django project.
    """
    assert SUPERVISORD.exists(), f"no {SUPERVISORD}: install the test extra (supervisor)"
    socket_path = socket_dir / "site.sock"
    # The config names the socket as the program's --socket does: Python reads the config.
    project = write_socket_project(tmp_path, socket_path)
    python = None
    if request.param == "manage.py":
        write_django_project(project)
        python = sys.executable  # the venv's, where django_js_host is installed
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        SUPERVISORD_CONF.format(socket=socket_dir / "supervisor.sock", directory=tmp_path)
        + supervisor_program(project, log_dir, socket_path, python)
    )
    # The suite's environment (its RUN_MARKER too), minus pytest-django's settings module.
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    with open(tmp_path / "supervisord.out", "wb") as output:  # the child keeps its own copy
        process = subprocess.Popen(
            [SUPERVISORD, "-c", conf], stdout=output, stderr=subprocess.STDOUT, cwd=tmp_path, env=env
        )
    supervised = Supervised(process, conf, project, log_dir, socket_path)
    try:
        supervised.wait_for_host()
        settings.JS_HOST = {
            **django_settings("django-settings-socket", {f"'{PROJECT}'": repr(str(project))}),
            "CONNECT_ONCE_CONFIGURED": False,
            "FUNCTION_TIMEOUT": 60.0,
        }
        yield supervised
    finally:
        # SIGTERM: supervisord stops its program (as `supervisorctl stop` does), then exits.
        stop_popen(process, timeout=30)
        survivors = [pid for pid in supervised.host_pids if alive(pid)]
        for pid in survivors:
            stop_by_pid(pid)
        socket_left = socket_path.exists()
    assert not survivors, f"hosts {survivors} outlived supervisord"
    assert not socket_left, f"the host left its socket file {socket_path} behind"


BOTH_COMMANDS = pytest.mark.parametrize("supervised", ["node", "manage.py"], indirect=True)


@BOTH_COMMANDS
def test_python_calls_the_host_supervisor_runs(supervised):
    status = host_status(supervised.socket_path)
    assert status["config"]["configFile"] == str(supervised.project / "host.config.js")
    assert status["config"]["socket"] == str(supervised.socket_path)
    # Python found the socket in the config file, and calls over it.
    assert host.get_url() == f"unix:{supervised.socket_path}"
    # node is supervisord's own child (no shell in between; `jshost start` became node
    # by exec): supervisord's signals reach node.
    pid = supervised.ctl("pid", "js-host").stdout.strip()
    assert pid == str(status["pid"])
    assert Function("counted").call_json(value="hi") == {"value": "hi", "pid": status["pid"]}
    # RUNNING once it has stayed up for startsecs (1 s by default).
    running = wait_until(lambda: "RUNNING" in supervised.ctl("status", "js-host").stdout, timeout=30)
    assert running, supervised.ctl("status", "js-host").stdout


@BOTH_COMMANDS
def test_supervisorctl_stop_answers_every_call_in_flight_then_the_host_is_gone(supervised, tmp_path):
    calls = 6
    host_pid = Function("counted").call_json(value="warm")["pid"]  # connected once, up front
    started = tmp_path / "started"
    started.touch()
    results, errors = {}, []

    def call(value):
        try:
            # Waits for the SIGTERM, then works 1 s more before it answers.
            results[value] = Function("slow").call_json(
                ms=40_000, after=1000, value=value, started=str(started)
            )
        except Exception as error:  # reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=call, args=(value,)) for value in range(calls)]
    for thread in threads:
        thread.start()
    try:
        # Every call has reached the function before the stop: they are in flight.
        in_flight = wait_until(lambda: len(started.read_text().split()) == calls, timeout=30)
        assert in_flight, f"only {started.read_text().split()} of {calls} calls started"
        stopped = supervised.ctl("stop", "js-host")
    finally:
        for thread in threads:
            thread.join(60)
    assert stopped.stdout.strip() == "js-host: stopped", (stopped, supervised.logs())
    assert not errors, errors
    answers = {value: {"value": value, "pid": host_pid, "stopping": True} for value in range(calls)}
    assert results == answers
    assert wait_until(lambda: not alive(host_pid), timeout=10)
    assert "STOPPED" in supervised.ctl("status", "js-host").stdout
    assert not supervised.socket_path.exists()  # the host removed it as it stopped
    # A drain, not a kill: SIGTERM, every call answered, exit code 0.
    log = supervised.host_log()
    assert "Host stopping (SIGTERM)" in log and "Host stopped" in log, log
    assert "cut " not in log, log
    assert "stopped: js-host (exit status 0)" in supervised.supervisord_log(), supervised.logs()


def test_supervisorctl_restart_gives_a_new_host_on_the_same_socket(supervised):
    first = Function("counted").call_json(value="before")["pid"]
    restarted = supervised.ctl("restart", "js-host")
    assert restarted.stdout.split() == ["js-host:", "stopped", "js-host:", "started"], restarted
    second = supervised.wait_for_host(other_than=first)["pid"]
    assert not alive(first)
    # Python's kept-alive connection closed with the first host: the call reconnects.
    assert Function("counted").call_json(value="after") == {"value": "after", "pid": second}


def test_supervisor_starts_a_host_again_when_it_dies(supervised):
    first = host_status(supervised.socket_path)["pid"]
    assert Function("counted").call_json(value="before")["pid"] == first
    os.kill(first, signal.SIGKILL)
    # SIGKILL leaves the socket file behind: the next host starts only because it finds
    # that file stale (nothing answers on it) and replaces it.
    second = supervised.wait_for_host(other_than=first)["pid"]
    assert not alive(first)
    # Python's kept-alive connection died with the first host: the call reconnects.
    assert Function("counted").call_json(value="after") == {"value": "after", "pid": second}
