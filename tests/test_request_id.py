"""Request ids and timing: each call carries an id (X-Request-ID) that the host writes in the
call's log line and gives the function as ``this.requestId``, and that Python's
``django_js_host`` logger writes with the call's name, outcome and duration at DEBUG. Real
hosts, and Django's own request handlers (WSGI and ASGI, through the test clients)."""

import asyncio
import logging
import re

import pytest
from django.test import AsyncClient, Client

from django_js_host import Function, FunctionError, call_log

from .support.django_site import SITE_CONFIG
from .support.hosts import js_host_for_test
from .support.logs import debug_log, host_logged, running_logged_host  # noqa: F401 (debug_log: a fixture)

GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.fixture(scope="module")
def logged_host(tmp_path_factory):
    """A host of the site's functions that also writes its log to ``logged_host.logfile``."""
    with running_logged_host(tmp_path_factory.mktemp("logged"), SITE_CONFIG) as host_process:
        yield host_process


@pytest.fixture
def logged_site(settings, logged_host):
    """JS_HOST pointed at ``logged_host``, and RequestIdMiddleware in front of the views."""
    settings.JS_HOST = js_host_for_test(logged_host.config_file)
    settings.MIDDLEWARE = ["django_js_host.middleware.RequestIdMiddleware"]
    return logged_host


def test_a_call_carries_one_id_to_the_function_the_hosts_log_and_pythons(logged_site, debug_log):
    request_id = Function("request_id").call()
    assert GENERATED.fullmatch(request_id)
    [record] = debug_log()
    assert record.levelno == logging.DEBUG
    assert re.fullmatch(rf"request_id 200 \d+\.\d\dms id={request_id}", record.getMessage())
    assert (record.js_function, record.request_id, record.outcome) == ("request_id", request_id, "200")
    assert 0 < record.duration_ms < 5000
    assert host_logged(logged_site, rf"Z request_id 200 \d+\.\d\dms id={request_id}$")
    # Outside a request each call has an id of its own.
    assert Function("request_id").call() != request_id


def test_failures_and_cache_hits_are_logged_with_their_outcome(logged_site, debug_log, settings):
    with pytest.raises(FunctionError):
        Function("double").call()
    failed = debug_log()[-1]
    assert failed.outcome == "FunctionError"
    assert re.fullmatch(rf"double FunctionError \d+\.\d\dms id={failed.request_id}", failed.getMessage())
    # The host's error line and its call line carry the same id.
    assert host_logged(logged_site, rf"Z double 500 id={failed.request_id}: Error: No number was provided$")
    assert host_logged(logged_site, rf"Z double 500 \d+\.\d\dms id={failed.request_id}$")

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cached = Function("echo", cache_timeout=60)
    cached.call_json(n=1)
    cached.call_json(n=1)
    assert [record.outcome for record in debug_log()[-2:]] == ["200", "cached"]


def test_a_batch_is_logged_as_one_call(logged_site, debug_log):
    assert Function("echo").batch([{"n": 1}, {"n": 2}]) == [{"n": 1}, {"n": 2}]
    [record] = debug_log()
    assert record.js_function == "echo (batch of 2)" and record.outcome == "200"
    assert host_logged(logged_site, rf"Z echo \(batch of 2\) 200 \d+\.\d\dms id={record.request_id}$")


def test_nothing_is_timed_when_no_one_follows_calls(logged_site, caplog):
    caplog.set_level(logging.INFO, logger="django_js_host")
    assert call_log.watch("echo", "id", b"{}", None) is None
    Function("echo").call(n=1)
    assert not [record for record in caplog.records if record.name == "django_js_host"]


def test_the_calls_of_one_request_share_its_x_request_id(logged_site):
    client = Client()
    assert client.get("/request-ids/", headers={"X-Request-ID": "page-1"}).json() == {"ids": ["page-1", "page-1"]}
    # Without one (or with one the host would refuse to log), one made for the request.
    first, second = (client.get("/request-ids/").json()["ids"] for _ in range(2))
    assert first[0] == first[1] and GENERATED.fullmatch(first[0])
    assert second[0] == second[1] != first[0]
    unusable = client.get("/request-ids/", headers={"X-Request-ID": "two words\tand a tab"}).json()["ids"]
    assert unusable[0] == unusable[1] and GENERATED.fullmatch(unusable[0])
    assert host_logged(logged_site, r"Z request_id 200 \d+\.\d\dms id=page-1$")
    # After the request, calls are on their own again.
    assert Function("request_id").call() not in ("page-1", first[0], second[0])


def test_async_and_sync_views_under_asgi_share_the_request_id_too(logged_site):
    async def pages():
        client = AsyncClient()
        return [
            (await client.get(path, headers={"X-Request-ID": f"asgi{path.count('async')}"})).json()["ids"]
            for path in ("/async-request-ids/", "/request-ids/")
        ]

    assert asyncio.run(pages()) == [["asgi1", "asgi1"], ["asgi0", "asgi0"]]
