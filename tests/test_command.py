"""manage.py jshost start|stop|restart|status|logs, against real hosts and real managers."""

import io
import os
import re
import signal
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_js_host import Function, JSHost
from django_js_host.host import host as default_host

from .support.django_site import run_django, start_django, stop_process_tree
from .support.hosts import FIXTURE_CONFIG, free_port, running_host, write_config
from .support.managers import managed, managed_hosts, managed_js_host, project, runtime_dir  # noqa: F401 (fixtures)
from .support.processes import alive, wait_until
from .support.projects import module_project  # noqa: F401 (fixture)


def jshost(*args):
    """Run `manage.py jshost ARGS` in this process; returns what it printed."""
    out = io.StringIO()
    call_command("jshost", *args, stdout=out)
    return out.getvalue()


def field(output, name):
    """The value of a "  name: value" line of the command's output."""
    match = re.search(rf"^  {name}:\s+(.*)$", output, re.MULTILINE)
    assert match, f"no {name!r} in:\n{output}"
    return match.group(1)


@pytest.fixture
def stopped_config(settings, tmp_path):
    """JS_HOST naming a config file whose host is not running."""
    port = free_port()
    settings.JS_HOST = {"CONFIG_FILE": str(write_config(tmp_path, port)), "CONNECT_ONCE_CONFIGURED": False}
    return port


# --- a host you run yourself ---


def test_status_of_a_running_host(js_host_settings, fixture_host):
    output = jshost("status")
    assert f"The JS host for {fixture_host.config_file} is running." in output
    assert field(output, "url") == fixture_host.url
    assert field(output, "pid") == str(fixture_host.pid)
    assert field(output, "node") == fixture_host.status["node"]
    node_env = fixture_host.status["nodeEnv"] or "not set (libraries run their development builds)"
    assert field(output, "node env") == node_env
    assert field(output, "config file") == fixture_host.config_file
    assert field(output, "module") == "CommonJS"
    assert "double, echo" in field(output, "functions")
    assert field(output, "stale") == "no"
    assert "logfile" not in output  # only a managed host has one of ours


def test_status_when_nothing_answers_says_not_running_and_names_the_url(stopped_config):
    expected = f"Not running: no JS host answers at http://127.0.0.1:{stopped_config}"
    with pytest.raises(CommandError, match=expected):
        jshost("status")


def test_status_exits_non_zero_when_not_running(tmp_path):
    port = free_port()
    finished = run_django(tmp_path, {"CONFIG_FILE": str(write_config(tmp_path, port))}, "jshost", "status")
    assert finished.returncode == 1
    assert f"CommandError: Not running: no JS host answers at http://127.0.0.1:{port}" in finished.stderr


def test_status_of_a_host_started_elsewhere_says_where_python_looked_and_what_to_change(settings, tmp_path):
    port = free_port()
    config = write_config(tmp_path, port)
    settings.JS_HOST = {"CONFIG_FILE": str(config), "CONNECT_ONCE_CONFIGURED": False}
    # As `jshost start --port N` runs it: on a port the config file does not name.
    with running_host(config, "--port", str(free_port())), pytest.raises(CommandError) as caught:
        jshost("status")
    assert str(caught.value) == (
        f"Not running: no JS host answers at http://127.0.0.1:{port}, which is where Python looks, "
        f"as {config} says (its `address` and `port`). A host started with --port, --address or "
        "--socket listens elsewhere, where Python does not look: put that in the config file, or "
        "point JS_HOST['ROOT_URL'] at the host. If none runs, start it with `manage.py jshost start`, "
        "or under your supervisor."
    )


def test_status_behind_root_url_names_root_url_as_where_python_looked(settings):
    url = f"http://127.0.0.1:{free_port()}"
    settings.JS_HOST = {"ROOT_URL": url, "CONNECT_ONCE_CONFIGURED": False}
    expected = f"Not running: no JS host answers at {url}, where JS_HOST['ROOT_URL'] sends every call"
    with pytest.raises(CommandError, match=re.escape(expected)):
        jshost("status")


def test_status_refuses_another_projects_host_on_the_port(settings, tmp_path, fixture_host):
    port = int(fixture_host.url.rsplit(":", 1)[1])
    settings.JS_HOST = {"CONFIG_FILE": str(write_config(tmp_path, port))}
    with pytest.raises(CommandError, match=f"serves {fixture_host.config_file}, not"):
        jshost("status")


def test_status_of_a_config_that_does_not_load_shows_the_js_error(settings, tmp_path):
    broken = tmp_path / "broken.config.js"
    broken.write_text("module.exports = {functions: {oops(data, cb) { cb(null, 1) }\n")
    settings.JS_HOST = {"CONFIG_FILE": str(broken)}
    with pytest.raises(CommandError, match=r"(?s)broken\.config\.js does not load.*SyntaxError"):
        jshost("status")


def test_status_says_when_a_host_runs_stale_code(settings, tmp_path):
    config = write_config(tmp_path, free_port())
    settings.JS_HOST = {"CONFIG_FILE": str(config)}
    with running_host(config):
        assert field(jshost("status"), "stale") == "no"
        config.write_text(config.read_text() + "// edited after the host loaded it\n")
        assert field(jshost("status"), "stale").startswith("yes: its JS files changed")


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_stop_and_restart_leave_a_host_you_run_to_its_supervisor(js_host_settings, fixture_host, action):
    with pytest.raises(CommandError) as caught:
        jshost(action)
    message = str(caught.value)
    assert f"`systemctl {action} UNIT`" in message and f"`pm2 {action} NAME`" in message
    assert f"The host at {fixture_host.url} runs as pid {fixture_host.pid}." in message
    assert alive(fixture_host.pid)


def test_stop_when_nothing_runs_still_names_the_supervisor(stopped_config):
    with pytest.raises(CommandError, match="answers to its supervisor") as caught:
        jshost("stop")
    assert "runs as pid" not in str(caught.value)


def test_logs_of_a_host_you_run_say_where_it_logs(js_host_settings):
    with pytest.raises(CommandError, match=r"journalctl -u UNIT.*jshost start --logfile"):
        jshost("logs")


def test_start_runs_the_host_in_the_foreground_until_sigterm(tmp_path):
    """`jshost start` becomes node (exec): SIGTERM to its pid drains it and it exits 0."""
    source_root = tmp_path / "project"
    source_root.mkdir()
    write_config(source_root, free_port())  # the port the config asks for ...
    config_name = next(source_root.glob("*.config.js")).name
    port = free_port()  # ... which --port overrides
    logfile = tmp_path / "host.log"
    js_host = {"SOURCE_ROOT": str(source_root), "CONFIG_FILE": config_name}
    options = ["--port", str(port), "--logfile", str(logfile)]
    process = start_django(tmp_path, js_host, "jshost", "start", *options)
    try:
        assert process.stdout.readline() == f"Host listening at 127.0.0.1:{port}\n"
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1].endswith(b"js-host.js")  # the same pid: node, not a Python wrapper
        assert os.readlink(f"/proc/{process.pid}/cwd") == str(source_root)
        with_root_url = {"ROOT_URL": f"http://127.0.0.1:{port}", "CONNECT_ONCE_CONFIGURED": False}
        from django.test import override_settings

        with override_settings(JS_HOST=with_root_url):
            assert Function("hello_world").call(name="foreground") == "Hello, foreground!"
    finally:
        returncode, out, err = stop_process_tree(process)
    assert returncode == 0, err
    assert "Host stopped" in out
    assert " hello_world 200 " in logfile.read_text()
    # Python without ROOT_URL would look where the config file says: the command warns.
    assert f"Warning: the host will listen at 127.0.0.1:{port}, but without ROOT_URL" in err


def test_start_with_workers_runs_a_cluster_that_sigterm_drains(tmp_path):
    port = free_port()
    write_config(tmp_path, port)
    config_name = next(tmp_path.glob("*.config.js")).name
    js_host = {"SOURCE_ROOT": str(tmp_path), "CONFIG_FILE": config_name}
    process = start_django(tmp_path, js_host, "jshost", "start", "--workers", "2", "--max-requests", "1000")
    worker_pids = set()
    try:
        assert process.stdout.readline() == f"Host listening at 127.0.0.1:{port}\n"
        from django.test import override_settings

        with override_settings(JS_HOST={**js_host, "ROOT_URL": f"http://127.0.0.1:{port}"}):
            assert Function("hello_world").call(name="cluster") == "Hello, cluster!"
            for _ in range(20):  # fresh connections spread over the workers
                probe = JSHost()
                status = probe.request_status()
                probe.close_connections()
                worker_pids.add(status["pid"])
        assert status["workers"] == {"count": 2, "primaryPid": process.pid}
    finally:
        returncode, out, err = stop_process_tree(process)
    assert returncode == 0, err
    assert "Host stopped" in out
    assert worker_pids and not any(alive(pid) for pid in worker_pids)


@pytest.mark.parametrize(
    ("debug", "node_env", "expected"),
    [(False, None, "production"), (True, None, None), (False, "staging", "staging")],
    ids=["production-by-default", "debug-keeps-development", "environment-wins"],
)
def test_start_runs_the_host_in_production_mode_unless_debug_or_the_environment_says(
    tmp_path, monkeypatch, debug, node_env, expected
):
    """DEBUG off: NODE_ENV=production, unless set; a host without it says so in its first line."""
    if node_env is None:
        monkeypatch.delenv("NODE_ENV", raising=False)
    else:
        monkeypatch.setenv("NODE_ENV", node_env)
    port = free_port()
    write_config(tmp_path, port)
    js_host = {"SOURCE_ROOT": str(tmp_path), "CONFIG_FILE": next(tmp_path.glob("*.config.js")).name}
    process = start_django(tmp_path, js_host, "jshost", "start", DEBUG=debug)
    try:
        first_line = process.stdout.readline()
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        from django.test import override_settings

        with override_settings(JS_HOST={**js_host, "ROOT_URL": f"http://127.0.0.1:{port}"}):
            status = JSHost().request_status()
    finally:
        returncode, _, err = stop_process_tree(process)
    assert returncode == 0, err
    assert status["nodeEnv"] == expected
    if expected is None:
        assert not any(entry.startswith(b"NODE_ENV=") for entry in environ)
        assert first_line == (
            f"Host listening at 127.0.0.1:{port} (NODE_ENV is not set: React and other libraries run "
            "their slower development builds; set NODE_ENV=production in production)\n"
        )
    else:
        assert f"NODE_ENV={expected}".encode() in environ
        assert first_line == f"Host listening at 127.0.0.1:{port}\n"


def test_start_passes_on_the_hosts_exit_code(tmp_path):
    (tmp_path / "host.config.js").write_text("module.exports = {functions: {oops() {}}\n")
    finished = run_django(tmp_path, {"SOURCE_ROOT": str(tmp_path)}, "jshost", "start")
    assert finished.returncode == 1
    assert "SyntaxError" in finished.stderr


def test_start_without_node_is_a_command_error_before_anything_runs(settings, tmp_path):
    settings.JS_HOST = {"PATH_TO_NODE": "/no/such/node", "CONFIG_FILE": str(FIXTURE_CONFIG)}
    cwd = os.getcwd()
    with pytest.raises(CommandError, match="Cannot run '/no/such/node': not found"):
        jshost("start")
    assert os.getcwd() == cwd


def test_bad_command_lines_are_command_errors():
    with pytest.raises(CommandError, match="subcommand"):
        jshost()
    with pytest.raises(CommandError, match="-n/--lines: must be a whole number, 0 or more, got '-1'"):
        jshost("logs", "-n", "-1")


# --- a managed host (USE_MANAGER=True) ---


def test_start_status_restart_logs_stop_a_managed_host(managed, settings, monkeypatch):
    settings.JS_HOST = {**settings.JS_HOST, "DISCONNECT_TIMEOUT": 30.0}  # outlives the test's steps
    monkeypatch.delenv("NODE_ENV", raising=False)  # what a developer's shell has

    output = jshost("start")
    assert f"The JS host for {default_host.config_file} started." in output
    url, pid, logfile = field(output, "url"), int(field(output, "pid")), field(output, "logfile")
    assert alive(pid) and os.path.isfile(logfile)
    assert "It stops 30 s after its last connection closes" in output
    assert managed.host_status(default_host.config_file)["connections"] == 0  # the command's closed

    again = jshost("start")
    assert "was already running" in again and field(again, "pid") == str(pid)

    status = jshost("status")
    assert field(status, "url") == url and field(status, "pid") == str(pid)
    assert field(status, "manager") == managed.url
    assert field(status, "logfile") == logfile
    assert field(status, "connections") == "0"
    assert "greet" in field(status, "functions").split(", ")
    # DEBUG is off here, yet a managed (development) host keeps development mode.
    assert field(status, "node env") == "not set (libraries run their development builds)"

    restarted = jshost("restart")
    new_pid = int(field(restarted, "pid"))
    assert new_pid != pid and field(restarted, "url") == url
    assert wait_until(lambda: not alive(pid))

    stopped = jshost("stop")
    assert f"Stopped the JS host for {default_host.config_file} (pid {new_pid}, {url})." in stopped
    assert wait_until(lambda: not alive(new_pid))
    with pytest.raises(CommandError, match="Not running"):
        jshost("status")


def test_stop_warns_about_open_connections(managed):
    assert Function("greet").call(name="held") == "Hello, held!"  # this process holds a connection
    said = jshost("stop")
    assert "1 connection(s) from Python processes were open: their next call asks the manager again" in said
    assert Function("greet").call(name="again") == "Hello, again!"  # and it does


def test_logs_print_the_last_lines_of_the_managed_hosts_logfile(managed):
    for name in ("one", "two", "three"):
        Function("greet").call(name=name)
    logfile = Path(default_host.logfile)
    assert wait_until(lambda: logfile.read_text().count(" greet 200 ") == 3)
    last_two = jshost("logs", "-n", "2").splitlines()
    assert len(last_two) == 2 and all(" greet 200 " in line for line in last_two)
    assert last_two == logfile.read_text().splitlines()[-2:]
    assert jshost("logs", "-n", "0") == ""
    assert jshost("logs").splitlines() == logfile.read_text().splitlines()[-20:]


def test_logs_follow_prints_new_lines_until_ctrl_c(managed, project, runtime_dir):
    Function("greet").call(name="before")
    js_host = {"SOURCE_ROOT": str(project), "USE_MANAGER": True, "RUNTIME_DIR": runtime_dir}
    process = start_django(project, js_host, "jshost", "logs", "--follow", "-n", "1")
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        assert wait_until(lambda: any("greet 200" in line for line in lines))
        Function("greet").call(name="while-following")
        assert wait_until(lambda: sum("greet 200" in line for line in lines) == 2)
    finally:
        returncode, _, err = stop_process_tree(process, signal.SIGINT)
        reader.join(5)
    assert returncode == 0, err


def test_a_crashed_managed_host_is_not_running_and_its_logfile_is_named(managed):
    Function("greet").call(name="x")
    pid, logfile = default_host.get_status()["pid"], default_host.logfile
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: managed.host_status(default_host.config_file)["state"] == "exited")
    expected = f"exited \\(signal SIGKILL\\); its logfile {logfile} says why"
    with pytest.raises(CommandError, match=expected):
        jshost("status")
    with pytest.raises(CommandError, match=expected):
        jshost("stop")
    restarted = jshost("restart")
    assert field(restarted, "pid") != str(pid)
    assert "is running" in jshost("status")


def test_a_managed_host_whose_config_broke_is_not_running_with_the_js_error(managed, project):
    assert Function("greet").call(name="x") == "Hello, x!"  # this process holds a connection
    (project / "greeting.js").write_text("module.exports = (name) => 'Hi ' + name;\nfoo(;\n")
    assert wait_until(lambda: managed.host_status(default_host.config_file)["state"] == "exited")
    expected = (
        f"Not running: The config file {default_host.config_file} does not load: SyntaxError: "
        f"Unexpected token ';'\n{project / 'greeting.js'}:2\n"
    )
    with pytest.raises(CommandError, match=re.escape(expected)):
        jshost("status")


def test_a_managed_host_running_old_code_is_stale(managed, settings, project):
    settings.JS_HOST = {**settings.JS_HOST, "RESTART_ON_CHANGE": False}
    assert Function("greet").call(name="old") == "Hello, old!"
    (project / "greeting.js").write_text("module.exports = (name) => 'Changed ' + name;\n")
    assert field(jshost("status"), "stale").startswith("yes")


def test_a_file_a_function_requires_after_the_start_makes_the_host_stale_when_it_changes(
    settings, module_project, runtime_dir
):
    settings.JS_HOST = managed_js_host(
        module_project, runtime_dir, CONFIG_FILE="host.config.cjs", RESTART_ON_CHANGE=False
    )
    lazy = module_project / "lib" / "lazy.cjs"
    with managed_hosts(runtime_dir) as manager:
        assert Function("lazy_require").call(text="x") == "lazy: x"
        assert wait_until(
            lambda: str(lazy) in manager.host_status(default_host.config_file)["status"]["config"]["sourceFiles"]
        )
        output = jshost("status")
        assert field(output, "module") == "CommonJS"
        assert field(output, "stale") == "no"
        lazy.write_text("module.exports = (text) => `edited: ${text}`;\n")
        assert field(jshost("status"), "stale").startswith("yes")


@pytest.mark.parametrize("action", [["status"], ["stop"], ["restart"], ["logs"]])
def test_without_a_manager_each_subcommand_says_not_running(managed, action):
    with pytest.raises(CommandError, match=f"Not running: no manager answers at {managed.url}"):
        jshost(*action)
    assert not managed.is_running()  # asking did not start one


def test_with_a_manager_but_no_host_for_the_config_says_not_running(managed, project):
    other = project / "other.config.js"
    other.write_text(f"module.exports = require({str(FIXTURE_CONFIG)!r});\n")
    from django_js_host import JSHost

    other_host = JSHost(str(other))
    other_host.connect()  # the manager runs, with a host for another config only
    try:
        with pytest.raises(CommandError, match=f"Not running: the manager at {managed.url} runs no host for"):
            jshost("status")
    finally:
        other_host.disconnect()


def test_start_options_are_refused_for_a_managed_host(managed):
    with pytest.raises(CommandError, match="--port, --logfile only go with a host you run yourself"):
        jshost("start", "--port", "9999", "--logfile", "x.log")
    with pytest.raises(CommandError, match="--workers only go with a host you run yourself"):
        jshost("start", "--workers", "2")
    assert not managed.is_running()
