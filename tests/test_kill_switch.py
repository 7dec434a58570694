"""The kill switch (JS_HOST['ENABLED'] = False) and Function(fallback=...)."""

import asyncio
import logging

import pytest
from django.template import engines

from django_js_host import ConnectionError, FunctionError, FunctionsDisabled
from django_js_host.function import Function

from .proxy import recording_proxy
from .support.django_site import run_python, site_host, site_settings  # noqa: F401 (fixtures)
from .support.hosts import free_port, write_config

pytestmark = pytest.mark.usefixtures("js_host_settings")


@pytest.fixture
def switched_off(js_host_settings):
    js_host_settings.JS_HOST = {**js_host_settings.JS_HOST, "ENABLED": False}
    return js_host_settings


def render(source):
    return engines["django"].from_string("{% load js_host %}" + source).render({})


def test_switched_off_calls_raise_and_reach_no_host(switched_off, fixture_host):
    with recording_proxy(fixture_host.url) as proxy:
        switched_off.JS_HOST = {**switched_off.JS_HOST, "ROOT_URL": proxy.url}
        with pytest.raises(FunctionsDisabled, match=r"'hello_world'.*JS_HOST\['ENABLED'\] is False"):
            Function("hello_world").call(name="x")
        with pytest.raises(FunctionsDisabled):
            Function("hello_world").batch([{}])
        with pytest.raises(FunctionsDisabled):
            asyncio.run(Function("hello_world").acall_json())
    assert proxy.paths == []


def test_switched_off_a_function_returns_its_fallback_without_logging(switched_off, caplog):
    with caplog.at_level(logging.DEBUG, logger="django_js_host"):
        assert Function("hello_world", fallback=None).call() is None
        assert Function("echo", fallback={"items": []}).call_json(x=1) == {"items": []}
    assert caplog.records == []


def test_switched_off_tags_render_their_fallback_even_under_debug(switched_off, caplog):
    switched_off.DEBUG = True
    with caplog.at_level(logging.DEBUG, logger="django_js_host"):
        output = render('[{% js_function "hello_world" fallback="<off>" %}][{% js_function_html "hello_world" %}]')
    assert output == "[<off>][]"  # a literal in the template is the author's, so safe
    assert caplog.records == []


def test_switched_off_start_up_does_not_connect(tmp_path):
    nothing_there = write_config(tmp_path, free_port())
    js_host = {"CONFIG_FILE": str(nothing_there), "CONNECT_ONCE_CONFIGURED": True, "ENABLED": False}
    finished = run_python(tmp_path, js_host, "-c", "import django; django.setup()")
    assert finished.returncode == 0, finished.stderr
    js_host["ENABLED"] = True
    finished = run_python(tmp_path, js_host, "-c", "import django; django.setup()")
    assert "Cannot connect to the JS host" in finished.stderr


def test_a_failed_call_returns_the_fallback_and_logs_the_js_stack(caplog):
    with caplog.at_level(logging.ERROR, logger="django_js_host"):
        assert Function("fails_async", fallback="n/a").call() == "n/a"
    record = caplog.records[0]
    assert record.getMessage() == "JS function 'fails_async' failed; returned its fallback 'n/a' instead"
    assert isinstance(record.exc_info[1], FunctionError)
    assert "RangeError: async failure" in caplog.text and "JavaScript stack" in caplog.text


def test_the_fallback_covers_a_host_that_is_not_running_and_timeouts(settings, tmp_path):
    assert Function("never_calls_back", timeout=0.2, fallback="slow").call() == "slow"
    settings.JS_HOST = {**settings.JS_HOST, "CONFIG_FILE": str(write_config(tmp_path, free_port()))}
    assert Function("hello_world", fallback="offline").call() == "offline"
    assert asyncio.run(Function("hello_world", fallback="offline").acall()) == "offline"
    with pytest.raises(ConnectionError):
        Function("hello_world").call()


def test_bad_arguments_raise_even_with_a_fallback():
    with pytest.raises(TypeError, match="argument 'when'"):
        Function("echo", fallback="n/a").call(when={1})


def test_without_failure_the_fallback_is_not_used():
    assert Function("hello_world", fallback="n/a").call(name="Ada") == "Hello, Ada!"


def test_switched_off_a_real_page_still_renders_with_its_fallbacks(site_settings, client):
    site_settings.JS_HOST = {**site_settings.JS_HOST, "ENABLED": False}
    response = client.get("/django/", {"name": "Ada", "number": 21})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<title></title>" in page and "<main></main>" in page
    assert "<aside>no double today</aside>" in page
