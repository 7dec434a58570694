"""A host you run on a Unix socket, found by Python from its config file, with real hosts."""

import asyncio
import json
import os
import time

import pytest

from django_js_host import (
    ConfigError,
    Function,
    FunctionTimeout,
    JSHost,
    UnexpectedResponse,
)

from .support.dirs import short_temp_dir
from .support.django_site import run_django
from .support.hosts import FIXTURE_CONFIG, FIXTURES, js_host_for_test, running_host


def write_socket_config(directory, socket_path, functions_from=FIXTURE_CONFIG):
    config = directory / f"{functions_from.stem}.config.js"
    config.write_text(
        f"module.exports = Object.assign({{}}, require({json.dumps(str(functions_from))}), "
        f"{{socket: {json.dumps(socket_path)}}});\n"
    )
    return config


@pytest.fixture
def socket_config(tmp_path):
    """A config file whose host serves a socket in a short temp dir; yields (config, socket)."""
    with short_temp_dir() as directory:
        socket_path = os.path.join(directory, "site.sock")
        yield write_socket_config(tmp_path, socket_path), socket_path


def test_python_finds_the_socket_in_the_config_and_calls_over_it(socket_config):
    config, socket_path = socket_config
    with running_host(config) as host_process:
        host = JSHost(config)
        assert host.get_url() == f"unix:{socket_path}" == host_process.url
        assert host.connect()["pid"] == host_process.pid
        hello = Function("hello_world", host=host)
        assert hello.call(name="socket") == "Hello, socket!"
        assert hello.batch([{"name": "a"}, {"name": "b"}]) == ["Hello, a!", "Hello, b!"]
        assert asyncio.run(hello.acall(name="async")) == "Hello, async!"
    assert not os.path.exists(socket_path)  # the host removed it as it stopped


def test_a_call_over_a_socket_that_gets_no_answer_times_out_on_time(tmp_path):
    with short_temp_dir() as directory:
        config = write_socket_config(tmp_path, os.path.join(directory, "faults.sock"), FIXTURES / "faults.config.js")
        with running_host(config):
            never = Function("never_calls_back", host=JSHost(config), timeout=0.5)
            started = time.monotonic()
            with pytest.raises(FunctionTimeout, match="within 0.5 s"):
                never.call()
            assert 0.5 <= time.monotonic() - started < 2.5
            assert Function("echo", host=JSHost(config)).call_json(after="timeout") == {"after": "timeout"}


def test_jshost_status_shows_the_socket(socket_config, tmp_path):
    config, socket_path = socket_config
    with running_host(config):
        finished = run_django(tmp_path, {"SOURCE_ROOT": str(tmp_path), "CONFIG_FILE": config.name}, "jshost", "status")
    assert finished.returncode == 0, finished.stderr
    assert f"url:         unix:{socket_path}" in finished.stdout


def test_a_socket_nothing_listens_on_is_a_connection_error_naming_it(socket_config):
    config, socket_path = socket_config
    with pytest.raises(ConnectionError, match=f"unix:{socket_path}"):
        Function("hello_world", host=JSHost(config)).call()


def test_a_host_that_requires_a_token_gets_the_token_setting(socket_config, settings):
    config, socket_path = socket_config
    settings.JS_HOST = js_host_for_test(config)
    with running_host(config, env={**os.environ, "JS_HOST_TOKEN": "s3cret-for-tests"}):
        with pytest.raises(UnexpectedResponse) as refused:
            Function("hello_world").call(name="no token")
        assert refused.value.status == 401
        assert "s3cret" not in str(refused.value)
        settings.JS_HOST = {**settings.JS_HOST, "TOKEN": "s3cret-for-tests"}
        assert Function("hello_world").call(name="token") == "Hello, token!"


def test_root_url_may_name_a_unix_socket(socket_config, settings):
    # A proxy on this machine listening on a socket; here the host itself stands in for it.
    config, socket_path = socket_config
    settings.JS_HOST = {"CONFIG_FILE": "/nowhere/host.config.js", "ROOT_URL": f"unix:{socket_path}",
                        "CONNECT_ONCE_CONFIGURED": False}  # fmt: skip
    with running_host(config):
        assert Function("hello_world").call(name="proxied") == "Hello, proxied!"


def test_root_url_must_be_a_url_or_a_socket(settings):
    with pytest.raises(ConfigError, match=r"http:// or https:// URL, or unix:/path/to.sock, got 'unix:relative.sock'"):
        settings.JS_HOST = {"ROOT_URL": "unix:relative.sock"}
        Function("hello_world").call()
