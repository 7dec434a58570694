"""Function.acall: asyncio calls against a real host, never blocking the event loop."""

import asyncio
import time

import pytest

from django_js_host import (
    ConnectionError,
    FunctionError,
    FunctionNotFound,
    FunctionTimeout,
    JSHost,
)
from django_js_host.function import Function

from .proxy import recording_proxy
from .support.hosts import free_port, running_host, write_config

pytestmark = pytest.mark.usefixtures("js_host_settings")


def test_acall_answers_like_call():
    async def calls():
        return (
            await Function("hello_world").acall(name="Async"),
            await Function("double").acall(number=20),
            await Function("echo").acall_json(a=[1, {"b": None}]),
        )

    assert asyncio.run(calls()) == ("Hello, Async!", "40", {"a": [1, {"b": None}]})


def test_acall_raises_the_same_errors():
    async def expect(error_type, name, **kwargs):
        with pytest.raises(error_type):
            await Function(name, timeout=kwargs.pop("timeout", 5)).acall(**kwargs)

    async def calls():
        await expect(FunctionError, "double")
        await expect(FunctionNotFound, "no_such_function")
        await expect(FunctionTimeout, "never_calls_back", timeout=0.5)
        return await Function("hello_world").acall()  # the host still answers

    assert asyncio.run(calls()) == "Hello, World!"


def test_a_hundred_concurrent_acalls_do_not_block_the_loop():
    ticks = 0

    async def ticker(stop):
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def calls():
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        await Function("echo").acall_json(warm="up")  # connects (in a thread) first
        started = time.monotonic()
        answers = await asyncio.gather(
            *(Function("slow_echo").acall_json(id=n, ms=300) for n in range(100))
        )
        elapsed = time.monotonic() - started
        stop.set()
        await ticking
        return answers, elapsed

    answers, elapsed = asyncio.run(calls())
    assert answers == [{"id": n, "ms": 300} for n in range(100)]
    assert elapsed < 3.0  # in parallel: one after another would take 30 s
    assert ticks >= 15  # the loop kept running while 100 calls were in flight


def test_acall_reaches_a_restarted_host(tmp_path):
    config = write_config(tmp_path, free_port())
    function = Function("hello_world", host=JSHost(config))

    async def call(name):
        return await function.acall(name=name)

    async def calls_around_a_restart():
        with running_host(config):
            first = await call("one")
        with pytest.raises(ConnectionError):
            await call("gone")
        with running_host(config):
            return first, await call("two")

    assert asyncio.run(calls_around_a_restart()) == ("Hello, one!", "Hello, two!")


@pytest.mark.parametrize("chunked", [False, True])
def test_acall_through_a_proxy(settings, fixture_host, chunked):
    with recording_proxy(fixture_host.url, chunked=chunked) as proxy:
        settings.JS_HOST = {**settings.JS_HOST, "ROOT_URL": proxy.url}
        answer = asyncio.run(Function("echo").acall_json(text="x" * 5000, n=1))
    assert answer == {"n": 1, "text": "x" * 5000}
    assert proxy.paths[-1].startswith("/function/echo?hash=")
