"""Function results in Django's cache: CACHE_TIMEOUT / Function(cache_timeout=...)."""

import asyncio
import hashlib
import time
import uuid

import pytest
from django.core.cache import caches

from django_js_host import ConfigError, FunctionError
from django_js_host.function import Function, encode_kwargs

from .support.hosts import free_port, write_config

pytestmark = pytest.mark.usefixtures("js_host_settings")


@pytest.fixture
def caching(js_host_settings):
    js_host_settings.JS_HOST = {**js_host_settings.JS_HOST, "CACHE_TIMEOUT": 60}
    caches["default"].clear()
    yield js_host_settings
    caches["default"].clear()


def count(**kwargs):
    """How many times count_calls ran on the host, after this call (kwargs: a fresh key)."""
    return Function("count_calls").call_json(**kwargs)["count"]


def test_the_same_call_runs_once_and_other_arguments_run_again(caching):
    tag = uuid.uuid4().hex
    first = count(tag=tag)
    assert count(tag=tag) == first
    assert count(tag=tag + "-other") > first
    assert count(tag=tag) == first


def test_call_and_call_json_share_the_entry_keyed_by_name_and_hash(caching):
    tag = uuid.uuid4().hex
    value = Function("count_calls").call_json(tag=tag)
    assert Function("count_calls").call(tag=tag) == f'{{"count":{value["count"]},"tag":"{tag}"}}'
    digest = hashlib.sha1(encode_kwargs("count_calls", {"tag": tag})).hexdigest()
    entry = caches["default"].get(f"django_js_host:/function/count_calls?hash={digest}")
    assert entry[0].startswith("application/json")


def test_a_cached_result_is_served_while_the_host_is_down(caching, settings, tmp_path):
    tag = uuid.uuid4().hex
    first = count(tag=tag)
    nothing_there = write_config(tmp_path, free_port())
    settings.JS_HOST = {**settings.JS_HOST, "CONFIG_FILE": str(nothing_there)}
    assert count(tag=tag) == first


def test_failures_are_not_cached(caching):
    messages = set()
    for _ in range(2):
        with pytest.raises(FunctionError) as raised:
            Function("count_then_fail").call(tag="same")
        messages.add(raised.value.js_message)
    assert len(messages) == 2


def test_entries_expire_after_their_timeout(js_host_settings):
    tag = uuid.uuid4().hex
    counted = Function("count_calls", cache_timeout=1)
    first = counted.call_json(tag=tag)["count"]
    assert counted.call_json(tag=tag)["count"] == first
    time.sleep(1.2)
    assert counted.call_json(tag=tag)["count"] > first


def test_per_function_timeout_overrides_the_setting(caching):
    tag = uuid.uuid4().hex
    uncached = Function("count_calls", cache_timeout=0)
    first = uncached.call_json(tag=tag)["count"]
    assert uncached.call_json(tag=tag)["count"] > first


def test_nothing_is_cached_by_default():
    tag = uuid.uuid4().hex
    assert count(tag=tag) < count(tag=tag)


def test_acall_uses_the_cache_too(caching):
    tag = uuid.uuid4().hex

    async def twice():
        function = Function("count_calls")
        return [(await function.acall_json(tag=tag))["count"] for _ in range(2)]

    first, second = asyncio.run(twice())
    assert first == second == count(tag=tag)


def test_an_unknown_cache_alias_is_a_config_error(caching):
    caching.JS_HOST = {**caching.JS_HOST, "CACHE_ALIAS": "nope"}
    with pytest.raises(ConfigError, match="CACHE_ALIAS'] is 'nope', which is not a cache in settings.CACHES"):
        count(tag="x")


@pytest.mark.parametrize("timeout", [-1, "60", True])
def test_bad_cache_timeouts_are_refused(settings, timeout):
    with pytest.raises(ValueError, match="cache_timeout must be a number of seconds"):
        Function("echo", cache_timeout=timeout)
    settings.JS_HOST = {"CACHE_TIMEOUT": timeout}
    with pytest.raises(ConfigError, match=r"JS_HOST\['CACHE_TIMEOUT'\] must be a number of seconds"):
        count(tag="x")
