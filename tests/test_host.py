"""JSHost introspection, connection checks and connection errors, against real hosts."""

import os

import pytest

from django_js_host import ConfigError, ConnectionError, Function, JSHost
from django_js_host.conf import Verbosity
from django_js_host.host import host as default_host

from .support.hosts import FIXTURES, free_port, running_host, write_config


def test_default_host_follows_settings(js_host_settings, fixture_host):
    assert default_host.config_file == fixture_host.config_file
    assert default_host.get_url() == fixture_host.url


def test_get_config_reads_the_config_without_a_running_host(tmp_path):
    port = free_port()
    host = JSHost(write_config(tmp_path, port))
    config = host.get_config()
    assert config["port"] == port
    assert config["address"] == "127.0.0.1"
    assert "hello_world" in config["functions"]
    assert host.get_url() == f"http://127.0.0.1:{port}"
    assert not host.is_running()


def test_status_connect_and_is_running(fixture_host):
    host = JSHost(fixture_host.config_file)
    assert host.is_running()
    status = host.request_status()
    assert status["type"] == "Host"
    assert status["pid"] == fixture_host.pid
    assert status["config"]["configFile"] == fixture_host.config_file
    assert host.connect() == host.get_status()


def test_connect_refuses_a_host_serving_another_config(tmp_path, fixture_host):
    port = int(fixture_host.url.rsplit(":", 1)[1])
    impostor = JSHost(write_config(tmp_path, port))  # our config, at the port of another's host
    with pytest.raises(ConfigError, match="serves .* not .*host-"):
        impostor.connect()
    with pytest.raises(ConfigError):
        Function("hello_world", host=impostor).call()


def test_host_not_running_raises_connection_error_naming_the_url(tmp_path):
    port = free_port()
    host = JSHost(write_config(tmp_path, port))
    with pytest.raises(ConnectionError, match=f"http://127.0.0.1:{port}"):
        Function("hello_world", host=host).call()
    with pytest.raises(OSError):  # also a builtins.ConnectionError
        host.request_status()


def test_config_that_does_not_load_names_the_file_and_the_js_error(tmp_path):
    broken = tmp_path / "broken.config.js"
    broken.write_text("module.exports = {functions: {oops(data, cb) { cb(null, 1) }\n")
    with pytest.raises(ConfigError, match=r"(?s)broken\.config\.js.*SyntaxError"):
        JSHost(broken).get_config()


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.config.js"):
        JSHost(tmp_path / "nowhere.config.js").get_config()


def test_missing_node_binary_is_named(settings, tmp_path):
    settings.JS_HOST = {"PATH_TO_NODE": "/no/such/node"}
    with pytest.raises(ConfigError, match="/no/such/node"):
        JSHost(write_config(tmp_path, free_port())).get_config()


def test_relative_config_file_is_relative_to_source_root(settings):
    settings.JS_HOST = {"SOURCE_ROOT": str(FIXTURES), "CONFIG_FILE": "host.config.js"}
    assert default_host.config_file == os.path.join(FIXTURES, "host.config.js")
    assert JSHost("other.config.js").config_file == os.path.join(FIXTURES, "other.config.js")


def test_silent_verbosity_prints_nothing(settings, fixture_host, capfd):
    settings.JS_HOST = {"CONFIG_FILE": fixture_host.config_file, "VERBOSITY": "SILENT"}
    assert Function("hello_world").call() == "Hello, World!"
    default_host.connect()
    assert capfd.readouterr() == ("", "")


def test_connect_verbosity_announces_on_stderr(settings, fixture_host, capfd):
    settings.JS_HOST = {"CONFIG_FILE": fixture_host.config_file, "VERBOSITY": Verbosity.CONNECT}
    default_host.connect()
    out, err = capfd.readouterr()
    assert out == ""
    assert f"Connected to JSHost [{fixture_host.url}]" in err


def test_a_restarted_host_is_reached_again_on_the_same_port(tmp_path):
    config = write_config(tmp_path, free_port())
    host = JSHost(config)
    function = Function("hello_world", host=host)
    with running_host(config):
        assert function.call(name="one") == "Hello, one!"
    with pytest.raises(ConnectionError):
        function.call(name="gone")
    with running_host(config):
        assert function.call(name="two") == "Hello, two!"
