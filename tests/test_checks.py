"""System checks: each id fires on its cause, with a hint, through Django's check runner."""

import os
import shutil

import pytest
from django.apps import apps
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from .support.django_site import run_django
from .support.hosts import FIXTURE_CONFIG, FIXTURES, free_port

BROKEN_CONFIG = "module.exports = {functions: {oops(data, cb) { cb(null, 1) }\n"


def js_host_checks(deploy=False):
    """{id: message} of what the checks tagged js_host report now."""
    found = run_checks(tags=["js_host"], include_deployment_checks=deploy)
    for message in found:
        assert message.hint, f"{message.id} has no hint"
    return {message.id: message.msg for message in found}


@pytest.fixture
def broken_config(tmp_path):
    path = tmp_path / "broken.config.js"
    path.write_text(BROKEN_CONFIG)
    return path


def test_a_good_setup_passes_every_check(js_host_settings):
    assert js_host_checks(deploy=True) == {}


def test_the_checks_run_with_every_manage_py_check(settings):
    settings.JS_HOST = {"CONFIG_FILE": "missing.config.js"}
    with pytest.raises(SystemCheckError, match="django_js_host.E002"):
        call_command("check")


def test_e001_node_binary_not_on_path(settings):
    settings.JS_HOST = {"PATH_TO_NODE": "no-such-node-binary", "CONFIG_FILE": str(FIXTURE_CONFIG)}
    assert js_host_checks() == {
        "django_js_host.E001": (
            "JS_HOST['PATH_TO_NODE'] is 'no-such-node-binary', which is not an executable on PATH."
        )
    }


def test_e001_node_path_that_is_not_an_executable(settings, tmp_path):
    not_executable = tmp_path / "node"
    not_executable.write_text("")
    settings.JS_HOST = {"PATH_TO_NODE": str(not_executable), "CONFIG_FILE": str(FIXTURE_CONFIG)}
    assert "django_js_host.E001" in js_host_checks()


def test_a_relative_node_path_is_relative_to_source_root(settings, tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "node").symlink_to(shutil.which("node"))
    shutil.copy(FIXTURE_CONFIG, tmp_path / "host.config.js")
    settings.JS_HOST = {"SOURCE_ROOT": str(tmp_path), "PATH_TO_NODE": os.path.join("bin", "node")}
    assert js_host_checks() == {}  # E003 ran node as bin/node in SOURCE_ROOT, as hosts do


def test_e002_missing_config_file_names_the_path_and_source_root(settings, tmp_path):
    settings.JS_HOST = {"SOURCE_ROOT": str(tmp_path), "CONFIG_FILE": "nowhere.config.js"}
    (found,) = run_checks(tags=["js_host"])
    assert found.id == "django_js_host.E002"
    assert str(tmp_path / "nowhere.config.js") in found.msg
    assert f"relative to SOURCE_ROOT ({tmp_path})" in found.hint


def test_e002_names_a_config_of_another_kind_beside_the_missing_one(settings, tmp_path):
    (tmp_path / "host.config.mjs").write_text("export default {functions: {}};\n")
    settings.JS_HOST = {"SOURCE_ROOT": str(tmp_path)}
    (found,) = run_checks(tags=["js_host"])
    assert found.id == "django_js_host.E002"
    assert found.hint == (
        "host.config.mjs is there: set JS_HOST['CONFIG_FILE'] to it (its name says how Node runs it)."
    )


def test_e003_an_es_module_config_that_does_not_load_shows_the_file_and_line(settings, tmp_path):
    config = tmp_path / "host.config.mjs"
    config.write_text("export default {\n  functions: {a(data) {}}\n  port: 9009,\n};\n")
    settings.JS_HOST = {"SOURCE_ROOT": str(tmp_path), "CONFIG_FILE": "host.config.mjs"}
    found = js_host_checks()["django_js_host.E003"]
    assert f"{config}:3\n" in found
    assert "SyntaxError" in found


def test_e003_config_that_does_not_load_shows_the_js_error(settings, broken_config):
    settings.JS_HOST = {"CONFIG_FILE": str(broken_config)}
    found = js_host_checks()
    assert list(found) == ["django_js_host.E003"]
    assert f"{broken_config} does not load" in found["django_js_host.E003"]
    assert "SyntaxError" in found["django_js_host.E003"]


def test_e003_does_not_run_when_e001_or_e002_fired(settings, broken_config):
    settings.JS_HOST = {"CONFIG_FILE": str(broken_config), "PATH_TO_NODE": "no-such-node-binary"}
    assert list(js_host_checks()) == ["django_js_host.E001"]


@pytest.mark.parametrize(
    "command, loads", [("check", True), ("migrate", False), ("runserver", False), (None, True)]
)
def test_e003_runs_only_under_manage_py_check_or_from_code(
    settings, broken_config, monkeypatch, command, loads
):
    monkeypatch.setattr(apps.get_app_config("django_js_host"), "management_command", command)
    settings.JS_HOST = {"CONFIG_FILE": str(broken_config)}
    assert ("django_js_host.E003" in js_host_checks()) is loads


def test_e003_in_real_management_commands(tmp_path):
    (tmp_path / "host.config.js").write_text(BROKEN_CONFIG)
    js_host = {"SOURCE_ROOT": str(tmp_path)}
    checked = run_django(tmp_path, js_host, "check")
    assert checked.returncode == 1
    assert "django_js_host.E003" in checked.stderr and "SyntaxError" in checked.stderr
    # migrate runs the checks too, but not the one that starts node.
    migrated = run_django(tmp_path, js_host, "migrate", "--plan")
    assert migrated.returncode == 0, migrated.stderr
    assert "E003" not in migrated.stderr + migrated.stdout


def test_a_js_host_typo_is_e006_under_check_and_one_line_elsewhere(tmp_path):
    js_host = {"CONFIG_FILEE": "host.config.js"}
    checked = run_django(tmp_path, js_host, "check")
    assert checked.returncode == 1
    assert "(django_js_host.E006) Unknown JS_HOST setting(s): CONFIG_FILEE. Known settings: " in checked.stderr
    assert "Traceback" not in checked.stderr
    port = str(free_port())
    for command in (["migrate", "--plan"], ["jshost", "status"], ["shell", "-c", "pass"], ["runserver", port]):
        finished = run_django(tmp_path, js_host, *command)
        assert finished.returncode == 1, command
        (line,) = finished.stderr.splitlines()
        assert line.startswith("ConfigError: Unknown JS_HOST setting(s): CONFIG_FILEE. Known settings: "), line


def test_w004_root_url_ending_in_a_slash(settings):
    settings.JS_HOST = {"ROOT_URL": "http://cache.internal:8080/js/"}
    found = run_checks(tags=["js_host"])
    assert [(message.id, message.level) for message in found] == [("django_js_host.W004", 30)]
    assert "'http://cache.internal:8080/js'" in found[0].hint


def test_behind_root_url_node_and_the_config_file_are_not_needed(settings):
    settings.JS_HOST = {
        "ROOT_URL": "http://cache.internal:8080",
        "PATH_TO_NODE": "no-such-node",
        "CONFIG_FILE": "nowhere.js",
    }
    assert js_host_checks() == {}


def test_e005_root_url_with_use_manager(settings):
    settings.JS_HOST = {"ROOT_URL": "http://cache.internal:8080", "USE_MANAGER": True}
    found = js_host_checks()
    assert list(found) == ["django_js_host.E005"]


def test_e008_cache_alias_not_in_caches(settings):
    settings.JS_HOST = {"ROOT_URL": "http://cache.internal:8080", "CACHE_TIMEOUT": 60, "CACHE_ALIAS": "js"}
    found = js_host_checks()
    assert list(found) == ["django_js_host.E008"]
    assert "'js', which is not in settings.CACHES" in found["django_js_host.E008"]
    settings.CACHES = {**settings.CACHES, "js": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert js_host_checks() == {}


@pytest.mark.parametrize(
    "js_host, named",
    [
        ({"FUNCTON_TIMEOUT": 3}, "FUNCTON_TIMEOUT"),
        ({"FUNCTION_TIMEOUT": "soon"}, "JS_HOST['FUNCTION_TIMEOUT']"),
        ({"TEMPLATE_ERRORS": "ignore"}, "JS_HOST['TEMPLATE_ERRORS'] must be 'raise' or 'fallback'"),
        ({"MANAGER_PORT": 9009}, "JS_HOST['MANAGER_PORT'] is no longer a setting"),
        ({"TOKEN": ""}, "JS_HOST['TOKEN'] must be None or a non-empty string"),
        ({"ENABLED": "no"}, "JS_HOST['ENABLED'] must be True or False"),
        ({"CACHE_ALIAS": ""}, "JS_HOST['CACHE_ALIAS'] must be a non-empty string"),
    ],
)
def test_e006_invalid_js_host_is_reported_not_raised(settings, js_host, named):
    settings.JS_HOST = js_host
    found = js_host_checks(deploy=True)
    assert list(found) == ["django_js_host.E006"]
    assert named in found["django_js_host.E006"]


def test_w007_use_manager_in_a_deployment(settings):
    settings.JS_HOST = {"USE_MANAGER": True, "SOURCE_ROOT": str(FIXTURES)}
    assert "django_js_host.W007" not in js_host_checks()
    assert "django_js_host.W007" in js_host_checks(deploy=True)
