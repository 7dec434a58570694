"""The attacks a TCP host is guarded against (js/lib/guard.js), against a real host: a web
page posting to it cross-site, an HTML form, and DNS rebinding. The host's ``mark`` function
writes a marker file, so each test proves the function did not run; a call from Python
still works, and does write it."""

import http.client
import json

import pytest

from django_js_host import protocol
from django_js_host.function import Function

from .support.hosts import free_port, js_host_for_test, running_host, write_config

MARK_BODY = b"{}"
MARK_PATH = protocol.call_path("mark", MARK_BODY)


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker"


@pytest.fixture
def guarded_host(tmp_path, marker):
    """A host whose config adds ``mark`` (writes ``marker``) to the fixture functions."""
    functions = tmp_path / "marking.functions.js"
    functions.write_text(
        "const fs = require('node:fs');\n"
        "module.exports = {functions: {mark(data, cb) {\n"
        f"  fs.writeFileSync({json.dumps(str(marker))}, 'the function ran');\n"
        "  cb(null, 'marked');\n"
        "}}};\n"
    )
    config = write_config(tmp_path, free_port(), functions_from=functions)
    with running_host(config) as host:
        yield host


@pytest.fixture
def python_settings(settings, guarded_host):
    settings.JS_HOST = js_host_for_test(guarded_host.config_file)
    return settings


def send(host, method, path, body=None, headers=None):
    """A raw request to ``host``, headers as given (http.client adds Host unless given one)."""
    port = host.status["config"]["port"]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        body = response.read()
        is_json = response.getheader("Content-Type", "").startswith(protocol.JSON_TYPE)
        return response.status, json.loads(body) if is_json else body.decode()
    finally:
        connection.close()


def assert_refused_and_not_run(answer, status, name, marker):
    assert answer[0] == status, answer
    assert answer[1]["name"] == name
    assert not marker.exists(), "the function ran"


def assert_python_still_calls(marker):
    assert Function("mark").call() == "marked"
    assert marker.read_text() == "the function ran"


def test_a_cross_site_text_plain_post_is_refused(guarded_host, python_settings, marker):
    # What fetch(url, {method: 'POST', mode: 'no-cors', body}) sends: no preflight needed.
    answer = send(
        guarded_host,
        "POST",
        MARK_PATH,
        MARK_BODY,
        {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert_refused_and_not_run(answer, 403, "CrossSiteRequest", marker)
    assert "https://evil.example" in answer[1]["message"]
    # Without Origin (an old browser, a plain client), text/plain is still no JSON.
    answer = send(guarded_host, "POST", MARK_PATH, MARK_BODY, {"Content-Type": "text/plain"})
    assert_refused_and_not_run(answer, 415, "UnsupportedMediaType", marker)
    assert_python_still_calls(marker)


def test_an_html_form_post_is_refused(guarded_host, python_settings, marker):
    # A <form method=post enctype=application/x-www-form-urlencoded> from a sandboxed frame
    # or a file: page sends Origin: null.
    answer = send(
        guarded_host,
        "POST",
        MARK_PATH,
        b"%7B%7D=",
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": "null"},
    )
    assert_refused_and_not_run(answer, 403, "CrossSiteRequest", marker)
    answer = send(guarded_host, "POST", MARK_PATH, b"{}", {"Content-Type": "multipart/form-data; boundary=x"})
    assert_refused_and_not_run(answer, 415, "UnsupportedMediaType", marker)
    assert_python_still_calls(marker)


def test_a_dns_rebound_request_is_refused(guarded_host, python_settings, marker):
    # The page's own name now resolves to 127.0.0.1: the browser calls it same-origin, with
    # a JSON body if it likes, but its Host header still says evil.example.
    port = guarded_host.status["config"]["port"]
    rebound = f"evil.example:{port}"
    answer = send(guarded_host, "POST", MARK_PATH, MARK_BODY, {"Host": rebound, "Content-Type": "application/json"})
    assert_refused_and_not_run(answer, 421, "MisdirectedRequest", marker)
    assert rebound in answer[1]["message"]
    assert "allowedHosts" in answer[1]["message"]
    status = send(guarded_host, "GET", protocol.STATUS_PATH, headers={"Host": rebound})
    assert status[0] == 421
    assert "functions" not in json.dumps(status[1])
    assert_python_still_calls(marker)


def test_what_python_sends_is_served(guarded_host, marker):
    port = guarded_host.status["config"]["port"]
    answer = send(
        guarded_host,
        "POST",
        MARK_PATH,
        MARK_BODY,
        {"Host": f"127.0.0.1:{port}", "Content-Type": protocol.JSON_TYPE},
    )
    assert answer == (200, "marked")
    assert marker.exists()
