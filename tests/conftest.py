import os
import uuid

import pytest

from .support.hosts import (
    RUN_MARKER,
    free_port,
    js_host_for_test,
    processes_marked_with,
    running_host,
    write_config,
)


@pytest.fixture(scope="session", autouse=True)
def assert_no_process_left_behind():
    """Mark every process the suite starts, and fail if any is still alive at the end."""
    token = uuid.uuid4().hex
    os.environ[RUN_MARKER] = token
    yield
    left = processes_marked_with(token)
    assert not left, f"the test suite left processes running: {left}"


@pytest.fixture(scope="session")
def fixture_host(tmp_path_factory):
    """One real host serving tests/fixtures/host.config.js on a free port, for the session."""
    config = write_config(tmp_path_factory.mktemp("host"), free_port())
    with running_host(config) as host_process:
        yield host_process


@pytest.fixture
def js_host_settings(settings, fixture_host):
    """Point JS_HOST (and so the default host) at the session's fixture host."""
    settings.JS_HOST = js_host_for_test(fixture_host.config_file)
    return settings
