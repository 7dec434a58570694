"""Copies of tests/fixtures/module-project, a project of ES modules ("type": "module"), for
tests that edit its files or serve it on a port of their own."""

import shutil
from pathlib import Path

import pytest

from .hosts import FIXTURES
from .paths import REPO

MODULE_PROJECT = FIXTURES / "module-project"


def copy_module_project(directory):
    """The module project copied into ``directory``/project (its real path); its
    node_modules is the repository's (a symlink), as `npm ci` installed it."""
    project = Path(directory).resolve() / "project"
    shutil.copytree(MODULE_PROJECT, project)
    (project / "node_modules").symlink_to(REPO / "node_modules")
    return project


@pytest.fixture
def module_project(tmp_path):
    return copy_module_project(tmp_path)


def on_port(project, port, config="host.config.js"):
    """An ES module config in ``project`` that serves its ``config`` at ``port``."""
    path = project / f"host-{port}.config.mjs"
    path.write_text(f"import config from './{config}';\nexport default {{...config, port: {port}}};\n")
    return path
