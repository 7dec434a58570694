"""Host configs as ES modules and TypeScript, called from Python: a "type": "module" project
(tests/fixtures/module-project) whose config imports an ES-only npm package and local
modules; TypeScript on the Node of django-js-host[node]; a managed host restarted when a
module its config imports changes, or a module a function loaded after the start; and the
errors a config that does not load gives."""

import shutil
import subprocess

import pytest

from django_js_host import Function
from django_js_host.conf import wheel_node
from django_js_host.exceptions import ConfigError
from django_js_host.host import host

from .support.hosts import free_port, js_host_for_test, running_host
from .support.managers import managed_hosts, managed_js_host, runtime_dir  # noqa: F401 (fixtures)
from .support.processes import wait_until
from .support.projects import module_project, on_port  # noqa: F401 (fixtures)

WHEEL_NODE = wheel_node()


def strips_types(node):
    """True if ``node`` runs TypeScript (Node >= 22.18, 23.6)."""
    said = subprocess.run(
        [node, "-p", "Boolean(process.features.typescript)"], capture_output=True, text=True, timeout=30
    )
    return said.stdout.strip() == "true"


def restarted_from(manager, pid):
    """True once the manager's host for our config runs, as another process than ``pid``."""
    info = manager.host_status(host.config_file)
    return info["state"] == "running" and info["pid"] != pid


def test_python_calls_an_es_module_config_that_imports_an_es_only_package(settings, module_project):
    config = on_port(module_project, free_port())
    with running_host(config):
        settings.JS_HOST = js_host_for_test(config)
        assert Function("escape").call(text="<b>&") == "&lt;b&gt;&amp;"  # escape-goat: ES module only
        assert Function("shout").call(text="hi") == "HI!"
        assert Function("greet").call(name="Ada") == "Hello, Ada!"  # set up by a top-level await
        assert Function("greet_back").call(name="Ada") == "Hello back, Ada!"  # callback style
        assert host.get_status()["config"]["configFormat"] == "module"
        assert not host.is_stale()
        # A module the config imports through another one.
        (module_project / "lib" / "punctuation.mjs").write_text("export const EXCLAMATION = '?';\n")
        assert host.is_stale()


def test_a_commonjs_config_in_a_module_project(settings, module_project):
    config = on_port(module_project, free_port(), "host.config.cjs")
    with running_host(config):
        settings.JS_HOST = js_host_for_test(config)
        assert Function("legacy").call(text="x") == "legacy: x"


@pytest.mark.skipif(WHEEL_NODE is None, reason="django-js-host[node] is not installed: no Node here strips types")
def test_a_typescript_config_runs_on_the_node_of_the_node_extra_and_restarts_when_a_ts_import_changes(
    settings, module_project, runtime_dir
):
    settings.JS_HOST = managed_js_host(
        module_project, runtime_dir, CONFIG_FILE="host.config.ts", PATH_TO_NODE=WHEEL_NODE
    )
    with managed_hosts(runtime_dir) as manager:
        assert Function("shout").call(text="hi") == "[HI!]"
        assert Function("escape").call(text="<b>") == "&lt;b&gt;"
        status = host.get_status()
        assert status["config"]["configFormat"] == "module-typescript"
        wheel_version = subprocess.run([WHEEL_NODE, "--version"], capture_output=True, text=True, timeout=30)
        assert status["node"] == wheel_version.stdout.strip()
        (module_project / "lib" / "brackets.ts").write_text(
            "export function brackets(text: string): string {\n  return `(${text})`;\n}\n"
        )
        assert wait_until(lambda: restarted_from(manager, status["pid"]))
        assert Function("shout").call(text="hi") == "(HI!)"


@pytest.mark.skipif(
    shutil.which("node") is None or strips_types("node"), reason="the node on PATH strips types"
)
def test_a_typescript_config_on_a_node_that_cannot_run_it_names_the_node_and_what_to_do(settings, module_project):
    settings.JS_HOST = js_host_for_test(module_project / "host.config.ts")
    expected = r"host\.config\.ts is TypeScript, and Node v[\d.]+ \(.*\) does not strip types"
    with pytest.raises(ConfigError, match=expected) as raised:
        host.get_config()
    assert "django-js-host[node]" in str(raised.value)
    assert "PATH_TO_NODE" in str(raised.value)


def test_editing_a_module_the_config_imports_through_another_restarts_the_managed_host(
    settings, module_project, runtime_dir
):
    settings.JS_HOST = managed_js_host(module_project, runtime_dir)
    with managed_hosts(runtime_dir) as manager:
        assert Function("shout").call(text="hi") == "HI!"
        pid = host.get_status()["pid"]
        (module_project / "lib" / "punctuation.mjs").write_text("export const EXCLAMATION = '?!';\n")
        assert wait_until(lambda: restarted_from(manager, pid))
        assert Function("shout").call(text="hi") == "HI?!"


def test_a_module_a_function_imports_when_first_called_restarts_the_managed_host_when_it_changes(
    settings, module_project, runtime_dir
):
    settings.JS_HOST = managed_js_host(module_project, runtime_dir)
    lazy = module_project / "lib" / "lazy.mjs"
    with managed_hosts(runtime_dir) as manager:
        assert Function("lazy_import").call(text="x") == "lazy: x"
        pid = host.get_status()["pid"]
        assert wait_until(
            lambda: str(lazy) in manager.host_status(host.config_file)["status"]["config"]["sourceFiles"]
        )
        lazy.write_text("export const describe = (text) => `edited: ${text}`;\n")
        assert wait_until(lambda: restarted_from(manager, pid))
        assert Function("lazy_import").call(text="x") == "edited: x"


def test_a_syntax_error_in_an_imported_module_is_a_config_error_with_file_and_line(settings, module_project):
    broken = module_project / "lib" / "punctuation.mjs"
    broken.write_text("export const EXCLAMATION = '!';\nexport default foo(;\n")
    settings.JS_HOST = js_host_for_test(module_project / "host.config.js")
    with pytest.raises(ConfigError) as raised:
        host.get_config()
    assert "SyntaxError: Unexpected token ';'" in str(raised.value)
    assert f"{broken}:2\nexport default foo(;\n" in str(raised.value)


def test_a_module_that_throws_as_the_managed_host_starts_gives_the_js_error(settings, module_project, runtime_dir):
    (module_project / "lib" / "punctuation.mjs").write_text(
        "throw new RangeError('no punctuation today');\nexport const EXCLAMATION = '!';\n"
    )
    settings.JS_HOST = managed_js_host(module_project, runtime_dir)
    with managed_hosts(runtime_dir), pytest.raises(ConfigError) as raised:
        Function("shout").call(text="hi")
    assert "RangeError: no punctuation today" in str(raised.value)
    # An ES module's frames name it by URL, as Node writes them.
    assert f"{(module_project / 'lib' / 'punctuation.mjs').as_uri()}:1" in str(raised.value)
