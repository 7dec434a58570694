"""The development manager, with real detached managers, real hosts and real Python processes."""

import asyncio
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from django_js_host import ConfigError, ConnectionError, Function, JSHost, ProcessError
from django_js_host.links.manager import JSHostManager

from .support.managers import (  # noqa: F401
    DISCONNECT_TIMEOUT,
    managed,
    project,
    python_process,
    run_managed_python,
    runtime_dir,
)
from .support.processes import alive, stop_by_pid, wait_until


def run_python(code, project, runtime_dir, **settings):
    returncode, out, err = run_managed_python(code, project, runtime_dir, **settings)
    assert returncode == 0, err
    return out, err


REPORT_HOST = """
from django_js_host.function import Function
from django_js_host.host import host
import json
print(Function('greet').call(name='process'))
print(json.dumps({'pid': host.get_status()['pid'], 'url': host.get_url(), 'logfile': host.logfile}))
"""


def test_first_call_starts_manager_and_host_and_says_so(managed, runtime_dir, capfd):
    assert Function("greet").call(name="Ada") == "Hello, Ada!"
    err = capfd.readouterr().err
    assert f"Started JSHostManager [unix:{managed.socket_path}]" in err
    assert f"Started JSHost [unix:{managed.directory}/host-" in err
    status = managed.get_status()
    assert status["socket"] == managed.socket_path
    (host_info,) = status["hosts"]
    assert host_info["connections"] == 1


def test_a_second_python_process_reuses_the_same_host(managed, project, runtime_dir):
    from django_js_host.host import host

    assert Function("greet").call(name="here") == "Hello, here!"
    out, err = run_python(REPORT_HOST, project, runtime_dir)
    greeting, report = out.splitlines()
    assert greeting == "Hello, process!"
    report = json.loads(report)
    assert report["pid"] == host.get_status()["pid"]
    assert report["url"] == host.get_url()
    assert "Started JSHost " not in err  # reused, not started


def test_host_stops_after_last_disconnect_and_manager_exits(managed, project, runtime_dir):
    out, err = run_python(REPORT_HOST, project, runtime_dir)
    host_pid = json.loads(out.splitlines()[1])["pid"]
    assert "Host will stop in 0.5 seconds unless another connection is opened" in err
    manager_pid = managed.get_status()["pid"]
    assert wait_until(lambda: not alive(host_pid), timeout=5)
    assert wait_until(lambda: not alive(manager_pid), timeout=5)


def test_a_connection_within_the_timeout_keeps_the_host(managed, project, runtime_dir):
    out, _ = run_python(REPORT_HOST, project, runtime_dir)
    host_pid = json.loads(out.splitlines()[1])["pid"]
    assert Function("greet").call(name="again") == "Hello, again!"  # within 0.5 s
    threading.Event().wait(DISCONNECT_TIMEOUT * 3)
    assert alive(host_pid)


def test_a_sigkilled_python_process_cannot_keep_the_host_forever(managed, project, runtime_dir):
    process = python_process(REPORT_HOST + "import time; time.sleep(60)\n", project, runtime_dir)
    try:
        process.stdout.readline()
        host_pid = json.loads(process.stdout.readline())["pid"]
        assert managed.get_status()["hosts"][0]["connections"] == 1
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    assert wait_until(lambda: not alive(host_pid), timeout=DISCONNECT_TIMEOUT + 5)


def test_restart_keeps_socket_logfile_and_connections(managed):
    from django_js_host.host import host

    assert Function("greet").call(name="before") == "Hello, before!"
    pid, url, logfile = host.get_status()["pid"], host.get_url(), host.logfile
    info = host.restart()
    assert info["pid"] != pid
    assert host.get_url() == url and host.logfile == logfile
    assert not alive(pid)
    assert Function("greet").call(name="after") == "Hello, after!"
    assert managed.get_status()["hosts"][0]["connections"] == 1


def test_logfile_shows_calls(managed):
    from django_js_host.host import host

    Function("greet").call(name="logged")
    logfile = Path(host.logfile)
    assert logfile.parent == Path(managed.directory)
    assert wait_until(lambda: " greet 200 " in logfile.read_text())


def test_stop_and_manager_stop(managed):
    from django_js_host.host import host

    Function("greet").call(name="x")
    host_pid = host.get_status()["pid"]
    host.stop()
    assert wait_until(lambda: not alive(host_pid))
    Function("greet").call(name="y")  # connects again: a new host
    new_pid = host.get_status()["pid"]
    manager_pid = managed.get_status()["pid"]
    assert managed.stop() == manager_pid
    assert wait_until(lambda: not alive(new_pid) and not alive(manager_pid))


def test_stop_is_not_an_error_when_the_manager_stops_on_its_own_meanwhile(managed, monkeypatch):
    # A manager exits with its last host: between its answer to GET /status and our
    # /manager/stop it may be gone. (A fixture's teardown failed so once, right after
    # test_a_sigkilled_python_process_cannot_keep_the_host_forever, whose host stops itself.)
    Function("greet").call(name="x")
    status = managed.get_status()
    managed._request("POST", "/manager/stop", {})
    assert wait_until(lambda: not alive(status["pid"]))
    monkeypatch.setattr(managed, "get_status", lambda: status)  # as it answered just before
    assert managed.stop() == status["pid"]


def test_a_stopping_manager_is_a_connection_error_not_a_stranger(managed):
    # While it drains its hosts (here: a call in flight) a manager closes its connections,
    # or answers a request already on its way 503, GET /status too: either way a manager
    # going away, not another program.
    Function("greet").call(name="x")
    in_flight = threading.Thread(target=Function("slow_echo").call, kwargs={"ms": 1500})
    in_flight.start()
    try:
        time.sleep(0.2)
        managed._request("POST", "/manager/stop", {})
        with pytest.raises(ConnectionError):
            managed.get_status()
    finally:
        in_flight.join()


def test_a_dead_managed_host_raises_process_error_naming_its_logfile(managed):
    from django_js_host.host import host

    Function("greet").call(name="x")
    host_pid, logfile = host.get_status()["pid"], host.logfile
    os.kill(host_pid, signal.SIGKILL)
    assert wait_until(lambda: not alive(host_pid))
    with pytest.raises(ProcessError, match=f"signal SIGKILL.*{logfile}"):
        Function("greet").call(name="x")
    with pytest.raises(ProcessError):  # still dead: no silent respawn
        Function("greet").call(name="x")
    host.restart()
    assert Function("greet").call(name="back") == "Hello, back!"


def test_changed_js_files_restart_the_managed_host(managed, project):
    from django_js_host.host import host

    assert Function("greet").call(name="old") == "Hello, old!"
    old_pid = host.get_status()["pid"]
    (project / "greeting.js").write_text("module.exports = (name) => 'Howdy, ' + name + '!';\n")
    # Calls made all along get the old answer or the new one, never an error: one that finds
    # the host restarting waits for the new one.
    assert wait_until(lambda: Function("greet").call(name="new") == "Howdy, new!", interval=0.01)
    assert managed.host_status(host.config_file)["pid"] != old_pid


@pytest.mark.parametrize("style", ["call", "acall"])
def test_calls_made_while_the_host_restarts_wait_for_the_new_one(managed, style):
    from django_js_host.host import host

    greet = Function("greet")
    call = (lambda: greet.call(name="x")) if style == "call" else (lambda: asyncio.run(greet.acall(name="x")))
    assert call() == "Hello, x!"
    first_pid = host.get_status()["pid"]
    restarts = threading.Thread(target=lambda: [managed.restart_host(host.config_file) for _ in range(3)])
    restarts.start()
    answers = []
    while restarts.is_alive():
        answers.append(call())
    restarts.join()
    answers.append(call())
    assert set(answers) == {"Hello, x!"}  # each call made during a restart waited for its end
    info = managed.host_status(host.config_file)
    assert info["restarts"] == 3 and info["pid"] != first_pid
    assert host.get_status()["pid"] == info["pid"], "the calls went to the new host"


def test_with_restart_on_change_off_a_new_process_is_told_the_host_is_stale(
    managed, settings, project, runtime_dir
):
    settings.JS_HOST = {**settings.JS_HOST, "RESTART_ON_CHANGE": False}
    assert Function("greet").call(name="old") == "Hello, old!"  # this process holds the host
    (project / "greeting.js").write_text("module.exports = (name) => 'Changed ' + name;\n")
    out, err = run_python(REPORT_HOST, project, runtime_dir, RESTART_ON_CHANGE=False)
    assert "runs an older version of" in err
    assert out.splitlines()[0] == "Hello, process!"  # still the old code, as it warned


def test_two_python_processes_starting_at_once_share_one_manager_and_host(project, runtime_dir, managed):
    code = REPORT_HOST + "from django_js_host.links.manager import manager\nprint(manager.get_status()['pid'])\n"
    processes = [python_process(code, project, runtime_dir) for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    reports = [out.splitlines() for out, _ in outputs]
    assert json.loads(reports[0][1])["pid"] == json.loads(reports[1][1])["pid"]
    assert reports[0][2] == reports[1][2]


def test_the_seed_one_liner_prints_the_logfile(project, runtime_dir, managed):
    out, _ = run_python(
        "from django_js_host.host import host; print(host.logfile)", project, runtime_dir
    )
    logfile = out.strip()
    assert os.path.isfile(logfile) and logfile.endswith(".log")


def test_bad_requests_get_clear_errors_and_the_manager_survives(managed, tmp_path):
    managed.ensure_running()
    with pytest.raises(ConfigError, match="does not exist|no such"):
        managed.connect_host(str(tmp_path / "missing.config.js"), "c1", str(tmp_path))
    with pytest.raises(ConfigError, match="absolute"):
        managed.host_status("relative.config.js")
    assert managed.is_running()


def test_a_host_that_fails_to_start_reports_its_error(managed, project):
    (project / "broken.config.js").write_text("module.exports = {functions: {a() {}}\n")
    host = JSHost("broken.config.js")
    does_not_load = f"The config file {project}/broken.config.js does not load: SyntaxError"
    with pytest.raises(ConfigError, match=f"(?s)^{does_not_load}.*logfile"):
        Function("a", host=host).call()
    assert managed.get_status()["hosts"] == [] or all(
        h["state"] != "running" for h in managed.get_status()["hosts"]
    )


def test_a_manager_that_never_had_a_host_exits_within_the_disconnect_timeout(managed, settings):
    from django_js_host.host import host

    settings.JS_HOST = {**settings.JS_HOST, "CONFIG_FILE": "missing.config.js"}
    with pytest.raises(ConfigError, match="missing.config.js does not exist"):
        host.connect()  # starts a manager, which starts no host
    manager_pid = managed.get_status()["pid"]
    asked = time.monotonic()
    assert wait_until(lambda: not alive(manager_pid), timeout=30)
    # As one whose hosts are gone: DISCONNECT_TIMEOUT (0.5 s) after the last request, not 30 s.
    assert time.monotonic() - asked < DISCONNECT_TIMEOUT + 4


def test_private_directory_with_loose_permissions_is_refused(tmp_path):
    loose = tmp_path / f"django-js-host-{os.getuid()}"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    with pytest.raises(ConfigError, match="no one else can enter"):
        JSHostManager(runtime_dir=tmp_path).ensure_running()


def test_a_private_directory_that_is_a_symbolic_link_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / f"django-js-host-{os.getuid()}").symlink_to(target)
    with pytest.raises(ConfigError, match="must be a directory owned by"):
        JSHostManager(runtime_dir=tmp_path).ensure_running()


def test_a_socket_file_left_by_a_killed_manager_is_replaced(managed):
    assert Function("greet").call(name="before") == "Hello, before!"
    status = managed.get_status()
    os.kill(status["pid"], signal.SIGKILL)
    assert wait_until(lambda: not alive(status["pid"]))
    assert os.path.exists(managed.socket_path)  # nobody removed it
    stop_by_pid(status["hosts"][0]["pid"])  # an orphan, which would serve on while we hold it
    from django_js_host.host import host

    host.reset()
    assert Function("greet").call(name="after") == "Hello, after!"
    assert managed.get_status()["pid"] != status["pid"]


def test_the_manager_is_detached_not_our_child_and_in_a_session_of_its_own(managed):
    Function("greet").call(name="x")
    pid = managed.get_status()["pid"]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    parent, session = int(fields[1]), int(fields[3])
    assert parent != os.getpid()  # so never our zombie when it exits
    assert session != os.getsid(0)  # a Ctrl-C in our terminal does not reach it
    log = Path(managed.logfile).read_text()
    assert log.startswith('{"type":"Manager"')  # its output goes to its logfile, status line first


def test_a_missing_node_is_named_before_a_manager_is_started(managed, settings):
    settings.JS_HOST = {**settings.JS_HOST, "PATH_TO_NODE": "/nonexistent/node"}
    with pytest.raises(ConfigError, match="Cannot run '/nonexistent/node': not found"):
        Function("greet").call(name="x")
    assert not managed.is_running()


def test_a_manager_that_cannot_start_says_why(managed, settings, tmp_path):
    bin_that_fails = tmp_path / "fails.js"
    bin_that_fails.write_text("console.error('js-host: this manager cannot start: a test says so'); process.exit(1);\n")
    settings.JS_HOST = {**settings.JS_HOST, "PATH_TO_BIN": str(bin_that_fails)}
    said = "js-host: this manager cannot start: a test says so"
    with pytest.raises(ProcessError, match=f"The manager could not start: {said}"):
        Function("greet").call(name="x")
