"""manage.py jshost init: the files it writes work as written, following the steps it prints.

The React starter is followed from a new `django-admin startproject` to a page that a
headless Chromium hydrates: `npm install` (from npm's cache where it can) and the build,
the printed settings and URL, runserver with a development manager of the test's own.
"""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_js_host.function import Function
from django_js_host.starter import package_name, starter_files

from .support.browser import chromium, console_errors, wait_for
from .support.hosts import free_port
from .support.managers import managed_hosts, managed_js_host, runtime_dir  # noqa: F401 (fixture)
from .support.paths import REPO
from .support.servers import get, project_environ, serving

PLAIN_FILES = ["host.config.js", "package.json"]


def jshost_init(*args):
    """`manage.py jshost init ARGS` in this process; returns what it printed."""
    out = StringIO()
    call_command("jshost", "init", *args, stdout=out)
    return out.getvalue()


def test_init_writes_a_config_whose_function_answers(settings, tmp_path, runtime_dir):
    settings.JS_HOST = managed_js_host(tmp_path, runtime_dir)
    output = jshost_init()
    assert sorted(path.name for path in tmp_path.iterdir()) == PLAIN_FILES
    assert f"Wrote into {tmp_path}:\n  host.config.js\n  package.json\n" in output
    # Not a startproject layout (no BASE_DIR here): the setting names the directory.
    assert f'JS_HOST = {{"SOURCE_ROOT": Path({str(tmp_path)!r}), "USE_MANAGER": DEBUG}}' in output
    package = json.loads((tmp_path / "package.json").read_text())
    assert package["name"] == tmp_path.name.lower()
    assert package["private"] is True

    with managed_hosts(runtime_dir):
        assert Function("greet").call(name="Ada") == "Hello, Ada!"
        assert Function("greet").call() == "Hello, World!"


def test_init_refuses_to_overwrite_naming_the_files_and_force_overwrites(settings, tmp_path):
    settings.JS_HOST = {"SOURCE_ROOT": str(tmp_path), "CONNECT_ONCE_CONFIGURED": False}
    (tmp_path / "package.json").write_text("{}\n")
    with pytest.raises(CommandError, match=r"^Nothing written: package.json already exists in .*--force"):
        jshost_init()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["package.json"]  # not even the config

    (tmp_path / "host.config.js").write_text("mine\n")
    with pytest.raises(CommandError, match=r"^Nothing written: host.config.js, package.json already exist in "):
        jshost_init()
    assert (tmp_path / "host.config.js").read_text() == "mine\n"

    jshost_init("--force")
    assert (tmp_path / "host.config.js").read_text().startswith("// The functions Django calls")
    assert "react" not in json.loads((tmp_path / "package.json").read_text()).get("dependencies", {})


def test_init_names_a_config_file_setting_that_is_not_the_starters(settings, tmp_path):
    settings.JS_HOST = {"SOURCE_ROOT": str(tmp_path), "CONFIG_FILE": "js/host.config.js"}
    assert f"Your JS_HOST['CONFIG_FILE'] is {tmp_path}/js/host.config.js: set it to 'host.config.js'" in jshost_init()


def test_react_starter_asks_for_the_packages_this_repository_tests_with():
    """The same ranges as the repository's package.json (whose lock `npm ci` installs): so
    the browser test's `npm install` finds them in npm's cache, and users get what CI ran."""
    ours = json.loads((REPO / "package.json").read_text())
    starter = json.loads(starter_files(react=True)[Path("package.json")].read_text())
    ours_all = {**ours["dependencies"], **ours["devDependencies"]}
    for section in ("dependencies", "devDependencies"):
        for name, wanted in starter[section].items():
            assert ours_all.get(name) == wanted, f"starter {section} {name} {wanted}, repository {ours_all.get(name)}"


def printed_code_blocks(output):
    """The code blocks of `jshost init`'s steps (lines indented 7 spaces), dedented."""
    blocks, block = [], None
    for line in output.splitlines():
        if line.startswith(" " * 7):
            if block is None:
                block = []
                blocks.append(block)
            block.append(line[7:])
        elif line and block is not None:
            block = None
        elif not line and block is not None:
            block.append("")
    return ["\n".join(block).strip("\n") + "\n" for block in blocks]


def run(command, cwd, env, timeout=120):
    finished = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert finished.returncode == 0, f"{command} failed:\n{finished.stdout}\n{finished.stderr}"
    return finished.stdout


def test_react_starter_in_a_new_project_renders_a_page_that_hydrates(tmp_path, runtime_dir):
    project = tmp_path / "site"
    project.mkdir()
    env = project_environ("mysite.settings", runtime_dir)
    run([sys.executable, "-m", "django", "startproject", "mysite", str(project)], project, env)
    with open(project / "mysite" / "settings.py", "a") as settings_py:
        settings_py.write('\nINSTALLED_APPS += ["django_js_host"]\n')  # what makes `jshost` a command

    output = run([sys.executable, "manage.py", "jshost", "init", "--react"], project, env)
    install, settings_lines, url_lines = printed_code_blocks(output)
    assert install == "npm install && npm run build\n"
    # From npm's cache when it has the packages (`npm ci` at the top of the repository put
    # them there), else from the registry; quietly.
    npm_env = {**env, "npm_config_prefer_offline": "true", "npm_config_audit": "false", "npm_config_fund": "false"}
    run(["sh", "-c", install], project, npm_env)
    with open(project / "mysite" / "settings.py", "a") as settings_py:
        settings_py.write(settings_lines)
    with open(project / "mysite" / "urls.py", "a") as urls_py:
        urls_py.write("\n" + url_lines)

    base = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "manage.py", "runserver", "--noreload", base.removeprefix("http://")]
    with managed_hosts(runtime_dir), serving(command, project, env, base + "/react/"):
        # The host rendered the component into the page, with the props of the URL's view.
        _status, _headers, html = get(base + "/react/")
        assert (
            '<div data-react-component="Counter"><p class="counter">Clicks<!-- -->: <output>3</output> '
            '<button type="button" disabled="">Add one</button></p></div>'
            '<script type="application/json">{"label": "Clicks", "start": 3}</script>'
        ) in html

        from selenium.webdriver.common.by import By

        # Found afresh each time: had hydration failed, React would have replaced the nodes.
        def button(driver):
            return driver.find_element(By.CSS_SELECTOR, "[data-react-component=Counter] button")

        def count(driver):
            return driver.find_element(By.CSS_SELECTOR, "[data-react-component=Counter] output").text

        with chromium() as driver:
            driver.get(base + "/react/")
            # Enabled by an effect, which runs only once React has hydrated the markup.
            wait_for(driver, lambda d: button(d).is_enabled(), message="the component was not hydrated")
            assert count(driver) == "3"
            button(driver).click()
            wait_for(driver, lambda d: count(d) == "4", message=f"count is {count(driver)} after a click")
            assert not console_errors(driver)


@pytest.mark.parametrize(
    ("directory", "name"), [("mysite", "mysite"), ("My Site (2026)", "my-site-2026"), ("_.", "django-project")]
)
def test_package_json_is_named_after_the_project_directory(directory, name):
    assert package_name(Path(directory)) == name
