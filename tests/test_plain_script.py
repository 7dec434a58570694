"""The seed's promises in a plain Python script (no Django project): settings.configure()
connects, as Django's start-up does, and a config file without functions is a host with
none. Real Python processes, real hosts and managers."""

import json
import os
import subprocess
import sys
import textwrap

from .support.hosts import free_port, running_host, write_config
from .support.managers import managed_hosts, runtime_dir  # noqa: F401 (fixture)
from .support.paths import REPO


def run_script(code, cwd, timeout=60):
    """Run ``code`` in a fresh Python with no Django settings; (returncode, stdout, stderr)."""
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return finished.returncode, finished.stdout, finished.stderr


def test_configure_reports_a_config_that_does_not_load_at_once(tmp_path):
    (tmp_path / "host.config.js").write_text("module.exports = {functions: {oops(data, cb) { cb(null, 1) }\n")
    code, out, err = run_script(
        """
        from django_js_host.conf import settings
        settings.configure(SOURCE_ROOT='.')
        print('not reached')
        """,
        tmp_path,
    )
    assert code == 1 and out == ""
    assert f"django_js_host.exceptions.ConfigError: The config file {tmp_path / 'host.config.js'} does not load" in err
    assert "SyntaxError" in err


def test_configure_without_connecting_leaves_it_to_the_first_call(tmp_path):
    (tmp_path / "host.config.js").write_text("module.exports = {functions: {oops(data, cb) { cb(null, 1) }\n")
    code, out, err = run_script(
        """
        from django_js_host.conf import settings
        settings.configure(SOURCE_ROOT='.', CONNECT_ONCE_CONFIGURED=False)
        print('configured', flush=True)
        """,
        tmp_path,
    )
    assert (code, out) == (0, "configured\n"), err


def test_configure_with_the_manager_starts_the_host_before_any_call(tmp_path, runtime_dir):
    (tmp_path / "host.config.js").write_text("module.exports = {functions: {hi(data, cb) { cb(null, 'hi'); }}};\n")
    with managed_hosts(runtime_dir):
        code, out, err = run_script(
            f"""
            from django_js_host.conf import settings
            settings.configure(SOURCE_ROOT='.', USE_MANAGER=True, RUNTIME_DIR={runtime_dir!r}, DISCONNECT_TIMEOUT=0.5)
            from django_js_host.links.manager import manager
            print(len(manager.get_status()['hosts']), flush=True)
            """,
            tmp_path,
        )
        assert code == 0, err
        assert out == "1\n"  # started by configure(): no call was made
        assert "Started JSHost [unix:" in err


def test_a_config_without_functions_is_a_host_with_none(tmp_path):
    config = write_config(tmp_path, free_port(), functions_from=tmp_path / "empty.js")
    (tmp_path / "empty.js").write_text("module.exports = {};\n")
    with running_host(config) as host_process:
        assert host_process.status["config"]["functions"] == []
        code, out, err = run_script(
            f"""
            import json
            from django_js_host.conf import settings
            settings.configure(CONFIG_FILE={str(config)!r})
            from django_js_host.host import host
            from django_js_host import Function, FunctionNotFound
            print(json.dumps(host.get_status()['config']['functions']))
            try:
                Function('anything').call()
            except FunctionNotFound as error:
                print(error)
            """,
            tmp_path,
        )
    assert code == 0, err
    functions, error = out.splitlines()
    assert json.loads(functions) == []
    assert "has no functions" in error
