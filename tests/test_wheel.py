"""What users install is the wheel: build it, install it into a fresh virtualenv, use it."""

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from .hosts import free_port, running_host

REPO = Path(__file__).resolve().parent.parent


def run(command, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, **kwargs)
    assert finished.returncode == 0, f"{command} failed:\n{finished.stdout}\n{finished.stderr}"
    return finished.stdout


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """A fresh virtualenv with the built wheel installed (not editable); returns its python."""
    work = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(REPO)])
    (wheel,) = (work / "dist").glob("django_js_host-*.whl")
    run([sys.executable, "-m", "venv", str(work / "venv")])
    python = work / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)])
    return wheel, python


def test_wheel_ships_the_node_host(installed_wheel):
    wheel, _ = installed_wheel
    names = zipfile.ZipFile(wheel).namelist()
    assert "django_js_host/js/bin/js-host.js" in names
    assert "django_js_host/js/package.json" in names
    assert any(name.startswith("django_js_host/js/lib/") for name in names)
    assert not any(name.startswith("tests/") for name in names)


def test_installed_wheel_calls_a_function_from_outside_the_source_tree(installed_wheel, tmp_path):
    _, python = installed_wheel
    bin_path = run(
        [str(python), "-c", "from django_js_host.conf import PACKAGED_BIN; print(PACKAGED_BIN)"],
        cwd=tmp_path,
    ).strip()
    assert bin_path.startswith(str(python.parent.parent)), "the host must come from the wheel"

    config = tmp_path / "host.config.js"
    config.write_text(
        "module.exports = {port: %d, functions: {hello_world(data, cb) {"
        " cb(null, 'Hello, ' + (data.name || 'World') + '!'); }}};\n" % free_port()
    )
    script = textwrap.dedent(
        """
        import django_js_host
        from django_js_host.conf import settings
        settings.configure()  # SOURCE_ROOT is the working directory, CONFIG_FILE host.config.js
        from django_js_host.function import Function
        print(django_js_host.__file__)
        print(Function('hello_world').call(name='Wheel'))
        """
    )
    with running_host(config, bin_path=bin_path):
        output = run([str(python), "-c", script], cwd=tmp_path).splitlines()
    assert output[0].startswith(str(python.parent.parent))
    assert output[1] == "Hello, Wheel!"
