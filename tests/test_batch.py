"""Function.batch: many calls in one request, against a real Node host."""

import asyncio
import hashlib

import pytest

from django_js_host import FunctionError, FunctionNotFound
from django_js_host.function import Function, encode_batch

from .proxy import recording_proxy

pytestmark = pytest.mark.usefixtures("js_host_settings")


def test_outputs_come_back_in_order_as_call_json_gives_them():
    calls = [{"name": "a"}, {}, {"name": "ü😀"}]
    assert Function("hello_world").batch(calls) == ["Hello, a!", "Hello, World!", "Hello, ü😀!"]
    assert Function("echo").batch([{"n": 1}, {"list": [1, "two"]}]) == [{"n": 1}, {"list": [1, "two"]}]
    assert Function("bytes").batch([{}]) == [b"\x00\x01\x02\xff"]
    assert Function("double").batch(iter([{"number": 20}])) == [40]


def test_async_calls_overlap_and_keep_their_order():
    calls = [{"ms": ms, "id": index} for index, ms in enumerate([60, 40, 20, 0])]
    assert Function("slow_echo").batch(calls) == calls


def test_a_failed_call_raises_its_function_error():
    with pytest.raises(FunctionError) as raised:
        Function("double").batch([{"number": 1}, {}, {"number": 3}, {}])
    assert raised.value.js_name == "Error"
    assert raised.value.js_message == "No number was provided"
    assert "host.config.js" in raised.value.js_stack


def test_return_exceptions_puts_each_error_in_its_place():
    outputs = Function("double").batch([{"number": 1}, {}, {"number": 3}], return_exceptions=True)
    assert outputs[0] == 2 and outputs[2] == 6
    assert isinstance(outputs[1], FunctionError)
    assert outputs[1].js_message == "No number was provided"


def test_unknown_function_and_empty_batch():
    with pytest.raises(FunctionNotFound, match="no_such_function"):
        Function("no_such_function").batch([{}])
    assert Function("echo").batch([]) == []


def test_the_url_carries_the_hash_of_the_sorted_body(settings, fixture_host):
    with recording_proxy(fixture_host.url) as proxy:
        settings.JS_HOST = {**settings.JS_HOST, "ROOT_URL": proxy.url}
        Function("echo").batch([{"b": 1, "a": 2}])
    body = b'[{"a":2,"b":1}]'  # a list: orjson's bytes (arguments.py)
    assert encode_batch("echo", [{"b": 1, "a": 2}]) == body
    assert f"/batch/echo?hash={hashlib.sha1(body).hexdigest()}" in proxy.paths


def test_bad_calls_raise_naming_the_call_before_anything_is_sent(settings, fixture_host):
    with recording_proxy(fixture_host.url) as proxy:
        settings.JS_HOST = {**settings.JS_HOST, "ROOT_URL": proxy.url}
        with pytest.raises(TypeError, match=r"batch call 1: argument 'when'.*set"):
            Function("echo").batch([{"when": 1}, {"when": {1, 2}}])
        with pytest.raises(TypeError, match=r"batch call 0 must be a dict of keyword arguments, got list"):
            Function("echo").batch([["not", "kwargs"]])
        with pytest.raises(TypeError, match=r"batch call 0 has the key 1"):
            Function("echo").batch([{1: "x"}])
        with pytest.raises(ValueError, match=r"batch call 0: argument 'ratio'"):
            Function("echo").batch([{"ratio": float("inf")}])
    assert not [path for path in proxy.paths if path.startswith("/batch/")]


def test_abatch():
    async def main():
        return await Function("async_greeting").abatch([{"name": "a"}, {"name": "b"}])

    assert asyncio.run(main()) == ["Hi a from async_greeting", "Hi b from async_greeting"]


def test_a_thousand_calls_in_one_batch_each_get_their_own_answer():
    calls = [{"id": index, "text": f"call {index}"} for index in range(1000)]
    assert Function("echo").batch(calls) == calls
