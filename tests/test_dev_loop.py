"""The development loop as a newcomer lives it: ``runserver`` under the manager while the JS
is edited, broken, fixed, and its host stopped and started from another terminal. Real
runserver processes (with their autoreloader), real managers and hosts.

The project is tests/support/managers.py's: host.config.js requires ./greeting.js, and the
page /greet/ (tests/urls.py) answers what ``greet`` returns.
"""

import re
import threading
import time

import pytest

from django_js_host import ConfigError

from .support.django_site import run_django, running_server
from .support.managers import managed, managed_js_host, project, runtime_dir  # noqa: F401 (fixtures)
from .support.processes import wait_until

GREETING = "module.exports = (name) => '{} ' + name;\n"
# What runserver prints as each server process starts ("Starting WSGI development server"
# since Django 6.0).
SERVER_STARTS = re.compile(r"Starting (?:\w+ )?development server")


# The autoreloader's debug log says when it has first seen each file it watches.
AUTORELOAD_LOG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.utils.autoreload": {"handlers": ["stderr"], "level": "DEBUG"}},
}


def dev_settings(project, runtime_dir, **more):
    """JS_HOST of a developer's settings: the manager, and the start-up connect."""
    return managed_js_host(project, runtime_dir, CONNECT_ONCE_CONFIGURED=True, **more)


def test_editing_the_js_under_the_manager_never_fails_a_request(managed, project, runtime_dir):
    """Polled every 10 ms while greeting.js is edited five times: every answer is the old
    text or the new one, never an error, though each edit restarts the host."""
    (project / "greeting.js").write_text(GREETING.format("v0"))
    with running_server(project, dev_settings(project, runtime_dir)) as server:
        answers, failures = [], []
        polling = threading.Event()

        def poll():
            while not polling.is_set():
                status, body = server.get("/greet/?name=x")
                (answers if status == 200 else failures).append((status, body[:300]))
                time.sleep(0.01)

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            host_pids = {managed.host_status(str(project / "host.config.js"))["pid"]}
            for version in range(1, 6):
                (project / "greeting.js").write_text(GREETING.format(f"v{version}"))
                served = (200, f"v{version} x")
                assert wait_until(lambda: answers[-1:] == [served] or failures, timeout=30)  # noqa: B023
                host_pids.add(managed.host_status(str(project / "host.config.js"))["pid"])
        finally:
            polling.set()
            poller.join()
    assert failures == []
    assert len(host_pids) == 6, "each edit restarted the host"
    assert [body for _, body in dict.fromkeys(answers)] == [f"v{version} x" for version in range(6)]
    assert len(SERVER_STARTS.findall(server.out)) == 1, "the server itself never restarted"


def test_a_host_stopped_and_started_from_another_terminal_is_found_again(managed, project, runtime_dir, tmp_path):
    """`jshost stop` then `jshost start` (a new manager, a new socket) or `jshost restart`
    while a server runs: its next request asks the manager again, and succeeds."""
    # Long enough for the host `jshost start` leaves behind to be found running.
    js_host = dev_settings(project, runtime_dir, DISCONNECT_TIMEOUT=10.0)
    config = str(project / "host.config.js")
    # Its own settings module: the server's autoreloader watches the server's.
    terminal = tmp_path / "terminal"
    terminal.mkdir()
    (project / "greeting.js").write_text(GREETING.format("Hello"))
    with running_server(project, js_host) as server:
        assert server.get("/greet/?name=first") == (200, "Hello first")
        first = managed.get_status()

        for command in ("stop", "start"):
            finished = run_django(terminal, js_host, "jshost", command)
            assert finished.returncode == 0, finished.stderr
        started = managed.get_status()
        assert started["pid"] != first["pid"], "the manager exited with its last host; `start` started another"
        assert server.get("/greet/?name=second") == (200, "Hello second")
        info = managed.host_status(config)
        assert info["pid"] == started["hosts"][0]["pid"], "the host `jshost start` started"
        assert info["connections"] == 1, "the server's connection, counted by the new manager"

        finished = run_django(terminal, js_host, "jshost", "restart")
        assert finished.returncode == 0, finished.stderr
        assert server.get("/greet/?name=third") == (200, "Hello third")
        assert managed.host_status(config)["pid"] != info["pid"]
    assert "Traceback" not in server.err


def test_a_config_broken_at_startup_is_one_line_and_fixing_it_restarts_runserver(managed, project, runtime_dir):
    greeting = project / "greeting.js"
    greeting.write_text("module.exports = (name) => 'Hi ' + name;\nfoo(;\n")
    with running_server(project, dev_settings(project, runtime_dir), LOGGING=AUTORELOAD_LOG) as server:
        first_child = server.serving_pid()
        assert first_child is not None
        # Serves on, and watches the files to fix: only a JS file is touched here, once the
        # autoreloader has seen it as it was (it may start watching after the server serves).
        assert wait_until(lambda: f"File {greeting} first seen" in server.err, timeout=30), server.err
        greeting.write_text(GREETING.format("Fixed"))
        assert wait_until(lambda: server.serving_pid() not in (None, first_child), timeout=30), server.err
        assert wait_until(lambda: server.get("/greet/?name=again") == (200, "Fixed again"), timeout=30)
    said = [line for line in server.err.splitlines() if "does not load" in line]
    assert said == [
        f"ConfigError: The config file {project / 'host.config.js'} does not load: SyntaxError: "
        f"Unexpected token ';' (at {greeting}:2) [runserver restarts when you fix it]"
    ]
    assert "Traceback" not in server.err
    assert len(SERVER_STARTS.findall(server.out)) == 2


def test_a_config_broken_while_the_server_runs_is_a_config_error_with_the_js_error(managed, project, runtime_dir):
    greeting = project / "greeting.js"
    greeting.write_text(GREETING.format("Hello"))
    config = str(project / "host.config.js")
    with running_server(project, dev_settings(project, runtime_dir), DEBUG=True) as server:
        assert server.get("/greet/?name=x") == (200, "Hello x")
        greeting.write_text("module.exports = (name) => 'Hello ' + name;\nfoo(;\n")
        assert wait_until(lambda: managed.host_status(config)["state"] == "exited", timeout=30)
        status, page = server.get("/greet/?name=x")
        assert status == 500
        # Django's debug page, escaped: the JS error with its file and line, and no advice
        # beyond fixing it.
        assert f"The config file {config} does not load: SyntaxError: Unexpected token &#x27;;&#x27;" in page
        assert f"{greeting}:2" in page
        assert "Fix it, and the next call starts the host again." in page
        assert "died" not in page and "host.restart()" not in page

        greeting.write_text(GREETING.format("Fixed"))
        assert wait_until(lambda: server.get("/greet/?name=x") == (200, "Fixed x"), timeout=30)


def test_with_restart_on_change_off_the_call_after_the_fix_starts_the_host(managed, settings, project):
    """No watch restarts the host once its config loads again: the next call does."""
    from django_js_host.function import Function
    from django_js_host.host import host

    settings.JS_HOST = {**settings.JS_HOST, "RESTART_ON_CHANGE": False}
    assert Function("greet").call(name="x") == "Hello, x!"
    (project / "greeting.js").write_text("module.exports = (name) => 'Hi ' + name;\nfoo(;\n")
    with pytest.raises(ConfigError, match="does not load: SyntaxError"):
        host.restart()
    with pytest.raises(ConfigError, match="does not load: SyntaxError"):
        Function("greet").call(name="x")  # tried again, and still broken
    (project / "greeting.js").write_text(GREETING.format("Fixed"))
    assert Function("greet").call(name="x") == "Fixed x"
