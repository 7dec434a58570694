"""Function.stream and astream, and cancellation (this.signal), against real hosts serving
tests/js/fixtures/streams.config.js (what each of its functions does is written there)."""

import asyncio
import json
import os
import re
import signal
import time

import pytest

from django_js_host import ConnectionError, FunctionError, FunctionTimeout, JSHost, UnexpectedResponse
from django_js_host.function import Function
from django_js_host.host import host as default_host
from django_js_host.streaming import StreamText

from .support.hosts import STREAMS_CONFIG, free_port, js_host_for_test, running_host, write_config
from .support.logs import debug_log, host_logged, running_logged_host  # noqa: F401 (debug_log: a fixture)
from .support.processes import cpu_seconds, wait_until

pytestmark = pytest.mark.usefixtures("streams_settings")


@pytest.fixture(scope="module")
def streams_host(tmp_path_factory):
    with running_logged_host(tmp_path_factory.mktemp("streams"), STREAMS_CONFIG) as host_process:
        yield host_process


@pytest.fixture
def streams_settings(settings, streams_host):
    settings.JS_HOST = js_host_for_test(streams_host.config_file)
    return settings


def seen(key):
    """What the function run with ``key`` saw of its signal (see the fixture's `seen`)."""
    return Function("seen").call_json(key=key)


def timed(pieces):
    """[(seconds since the first was asked for, piece), ...] of an iterator of pieces."""
    started = time.monotonic()
    return [(time.monotonic() - started, piece) for piece in pieces]


# Streaming.


@pytest.mark.parametrize("name", ["async_generator", "node_readable", "web_stream", "through_callback"])
def test_each_kind_of_stream_comes_as_text(name):
    parts = ["<p>", "héllo", " 😀", "</p>"]
    assert "".join(Function(name).stream(parts=parts)) == "<p>héllo 😀</p>"


def test_chunks_come_as_the_function_makes_them():
    pieces = timed(Function("async_generator").stream(parts=["one", "two", "three"], ms=300))
    assert [piece for _, piece in pieces] == ["one", "two", "three"]
    (first, _), (second, _), (third, _) = pieces
    # The parts are made 300 ms apart: each came as it was made, not with the last.
    assert third - first > 0.5
    assert first < second < third


def test_a_stream_far_bigger_than_a_socket_holds_comes_whole_and_in_order():
    # 16 MB, read a little slower than the host makes it: the host waits for each drain.
    received = []
    for piece in Function("many_chunks", timeout=30).stream(count=256, size=64 * 1024):
        received.append(piece)
        time.sleep(0.0005)
    text = "".join(received)
    assert len(text) == 256 * 64 * 1024
    assert text == "".join(str(index % 10) * 64 * 1024 for index in range(256))


def test_a_character_split_across_chunks_comes_whole():
    assert "".join(Function("multibyte_split").stream()) == "a€b😀c"


def test_an_output_that_is_not_a_stream_comes_whole_as_call_gives_it():
    assert list(Function("not_a_stream").stream()) == ['{"whole":true}']
    assert list(Function("empty_stream").stream()) == []


def test_an_error_after_the_first_chunk_raises_function_error_with_the_js_stack_and_is_logged(streams_host):
    received = []
    with pytest.raises(FunctionError) as raised:
        for piece in Function("fails_mid_stream").stream():
            received.append(piece)
    assert received == ["first part, "]
    error = raised.value
    assert (error.function, error.js_name, error.js_message) == ("fails_mid_stream", "RangeError", "the stream broke")
    assert "streams.config.js" in error.js_stack
    assert wait_until(lambda: "fails_mid_stream 500 after 1 chunks of its stream" in streams_host.logfile.read_text())
    log = streams_host.logfile.read_text()
    logged_error = r"fails_mid_stream 500 after 1 chunks of its stream id=\S+: RangeError: the stream broke\n    at "
    assert re.search(logged_error, log)
    assert "the connection closed" not in log.split("fails_mid_stream 500", 1)[1].split("\n2", 1)[0]


@pytest.mark.parametrize("consume", ["stream", "astream"])
def test_a_chunk_that_comes_with_the_error_is_yielded_before_it(consume):
    received = []

    async def read_async():
        async for piece in Function("fails_right_after_a_chunk").astream():
            received.append(piece)

    with pytest.raises(FunctionError, match="RangeError: broke at once"):
        if consume == "stream":
            received.extend(Function("fails_right_after_a_chunk").stream())
        else:
            asyncio.run(read_async())
    assert received == ["the only part"]


def test_an_error_before_the_first_chunk_raises_as_a_call_does_or_gives_the_fallback():
    with pytest.raises(FunctionError, match="broke before any chunk"):
        list(Function("fails_before_any_chunk").stream())
    assert list(Function("fails_before_any_chunk", fallback="<p>later</p>").stream()) == ["<p>later</p>"]
    assert list(Function("fails_before_any_chunk", fallback="").stream()) == []


def test_a_stream_that_ends_early_is_an_error_not_a_truncation(streams_host, tmp_path):
    # A host killed mid-stream: the answer ends inside its chunked body, without its end record.
    config = write_config(tmp_path, free_port(), functions_from=STREAMS_CONFIG)
    with running_host(config) as host_process:
        pieces = Function("stream_until_aborted", host=JSHost(config_file=str(config))).stream(key="k")
        assert next(pieces) == "the first part"
        os.kill(host_process.pid, signal.SIGKILL)
        with pytest.raises(ConnectionError, match="closed the connection before the end of its answer"):
            next(pieces)


def test_bad_arguments_raise_at_the_call_not_at_the_first_chunk():
    with pytest.raises(TypeError, match="argument 'when'"):
        Function("async_generator").stream(when=object())


def test_the_deadline_covers_the_whole_stream():
    started = time.monotonic()
    received = []
    with pytest.raises(FunctionTimeout, match="did not end within 0.5 s"):
        for piece in Function("async_generator", timeout=0.5).stream(parts=list("abcdefgh"), ms=100):
            received.append(piece)
    assert 0.5 <= time.monotonic() - started < 1.0
    assert 3 <= len(received) <= 5


def test_a_connection_is_reused_after_a_whole_stream_and_calls_meanwhile_get_their_own():
    pieces = Function("async_generator").stream(parts=["a", "b"], ms=50)
    assert next(pieces) == "a"
    # The stream holds this thread's connection: a call now goes on another.
    assert Function("not_a_stream").call_json() == {"whole": True}
    assert list(pieces) == ["b"]
    ports = set()
    for _ in range(3):
        assert "".join(Function("async_generator").stream(parts=["x"])) == "x"
        ports.add(default_host.transport._local.connection.sock.getsockname())
    assert len(ports) == 1


def test_a_plain_call_reads_a_stream_whole():
    assert Function("node_readable").call(parts=["a", "ü", "c"]) == "aüc"
    assert Function("async_generator").batch([{"parts": ["x", "y"]}, {"parts": []}]) == ["xy", ""]


# Async.


def test_astream_yields_the_same_pieces_and_errors():
    async def main():
        pieces = [piece async for piece in Function("async_generator").astream(parts=["a", "b€", "c"], ms=20)]
        whole = [piece async for piece in Function("not_a_stream").astream()]
        received = []
        with pytest.raises(FunctionError, match="the stream broke") as raised:
            async for piece in Function("fails_mid_stream").astream():
                received.append(piece)
        with pytest.raises(FunctionTimeout, match="did not end within 0.3 s"):
            async for _ in Function("async_generator", timeout=0.3).astream(parts=list("abcdef"), ms=100):
                pass
        return pieces, whole, received, raised.value

    pieces, whole, received, error = asyncio.run(main())
    assert pieces == ["a", "b€", "c"]
    assert whole == ['{"whole":true}']
    assert received == ["first part, "]
    assert "streams.config.js" in error.js_stack


def test_astream_does_not_block_the_loop():
    async def main():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        pieces = [piece async for piece in Function("async_generator").astream(parts=["a", "b", "c"], ms=100)]
        ticker.cancel()
        return pieces, ticks

    pieces, ticks = asyncio.run(main())
    assert pieces == ["a", "b", "c"]
    assert ticks > 15


# Cancellation: this.signal.


def host_cpu_while(pid, seconds):
    """The host's CPU time over the next ``seconds``, as a share of them."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def test_a_call_that_times_out_aborts_the_functions_signal_and_the_host_goes_idle(streams_host):
    Function("seen").call(key="warm-up")  # connected, so the timeout is all the function's
    with pytest.raises(FunctionTimeout):
        Function("loop_until_aborted", timeout=1.0).call(key="timeout")
    timed_out_at = time.time()
    assert wait_until(lambda: seen("timeout") is not None, timeout=2)
    saw = seen("timeout")
    # The function loops an event-loop turn at a time until its signal aborts.
    assert saw["turns"] > 1000
    assert saw["abortedAt"] / 1000 - timed_out_at < 0.1, saw
    assert saw["abortedAt"] - saw["started"] > 950, saw  # not before Python stopped waiting
    assert saw["reason"].startswith("AbortError: The connection closed before the answer")
    # Busy while it looped (measured in another call), idle once aborted.
    assert host_cpu_while(streams_host.pid, 0.5) < 0.1


def test_the_loop_burns_cpu_until_aborted_which_is_what_the_idle_check_measures(streams_host):
    calling = asyncio.new_event_loop()
    try:
        call = calling.create_task(Function("loop_until_aborted", timeout=2.0).acall(key="busy"))
        calling.run_until_complete(asyncio.sleep(0.3))
        busy = host_cpu_while(streams_host.pid, 1.0)
        with pytest.raises(FunctionTimeout):
            calling.run_until_complete(call)
    finally:
        calling.close()
    assert wait_until(lambda: seen("busy") is not None, timeout=2)
    idle = host_cpu_while(streams_host.pid, 1.0)
    # A CPU's worth while it loops on an idle machine; a share of one on a busy machine,
    # which is still many times what an idle host uses.
    assert busy > 0.1 and idle < busy / 5, (busy, idle)


def test_closing_a_stream_before_its_end_aborts_it_in_the_host():
    pieces = Function("stream_until_aborted").stream(key="closed")
    assert next(pieces) == "the first part"
    pieces.close()
    closed_at = time.time()
    assert wait_until(lambda: (seen("closed") or {}).get("closedAt") is not None, timeout=2)
    saw = seen("closed")
    assert saw["abortedAt"] / 1000 - closed_at < 0.1, saw
    assert saw["closedAt"] / 1000 - closed_at < 0.1, saw


def test_an_async_consumer_that_stops_aborts_the_stream_in_the_host():
    async def main():
        pieces = Function("generator_until_aborted").astream(key="aclosed")
        assert await pieces.__anext__() == "the first part"
        await pieces.aclose()

    asyncio.run(main())
    assert wait_until(lambda: seen("aclosed") is not None, timeout=2)
    assert seen("aclosed") == {"returned": True, "aborted": True}


def test_a_call_answered_in_time_does_not_abort_its_signal():
    assert Function("signal_after_answer").call(key="answered") == "answered"
    assert wait_until(lambda: seen("answered") is not None, timeout=2)
    assert seen("answered") == {"aborted": False}


def test_a_stream_in_records_that_are_not_records_is_an_unexpected_response():
    text = StreamText("render", "unix:/x")
    assert text.feed(b"d3:ab") == "ab"
    assert text.feed(b"cd1") == "c"
    with pytest.raises(UnexpectedResponse, match="is not a series of records: b'd1x:'"):
        text.feed(b"x:")
    split_head = StreamText("render", "unix:/x")
    split_head.feed(b"d" + b"9" * 22)  # not too long yet: the rest may be a colon
    with pytest.raises(UnexpectedResponse, match="is not a series of records"):
        split_head.feed(b"99:")
    with pytest.raises(UnexpectedResponse, match="ended without its end record"):
        StreamText("render", "unix:/x").finish()
    with pytest.raises(UnexpectedResponse, match="not a JS error"):
        StreamText("render", "unix:/x").feed(b"e2:{}")
    error = {"name": "E", "message": "m", "stack": "s", "function": "render"}
    record = b"e%d:%s" % (len(json.dumps(error)), json.dumps(error).encode())
    failing = StreamText("render", "unix:/x")
    assert failing.feed(record) == ""
    with pytest.raises(FunctionError, match="E: m"):
        failing.raise_failure()


def test_text_that_comes_with_the_error_record_is_passed_on_before_the_error():
    error = {"name": "RangeError", "message": "broke", "stack": "s", "function": "render"}
    record = b"e%d:%s" % (len(json.dumps(error)), json.dumps(error).encode())
    text = StreamText("render", "unix:/x")
    assert text.feed(b"d5:first" + record + b"d4:lost") == "first"
    with pytest.raises(FunctionError, match="RangeError: broke"):
        text.raise_failure()
    with pytest.raises(FunctionError):
        text.finish()


# Following a streamed call: Python's DEBUG line (call_log.py), written as the stream ends.


def test_a_stream_is_logged_as_it_ends_with_its_pieces_and_the_hosts_id(streams_host, debug_log):
    assert "".join(Function("async_generator").stream(parts=["one", "two"], ms=50)) == "onetwo"
    [record] = debug_log()
    assert (record.js_function, record.outcome) == ("async_generator", "200")
    line = rf"async_generator 200 \d+\.\d\dms id={record.request_id} stream of 2 pieces"
    assert re.fullmatch(line, record.getMessage())
    assert record.duration_ms >= 50
    # The host's line for the same call carries the same id.
    host_line = rf"Z async_generator 200 \d+\.\d\dms id={record.request_id} stream of \d+ chunks$"
    assert host_logged(streams_host, host_line)


def test_a_stream_cut_by_its_error_closed_early_or_answered_whole_is_logged_so(debug_log):
    with pytest.raises(FunctionError):
        list(Function("fails_mid_stream").stream())
    pieces = Function("stream_until_aborted").stream(key="logged-close")
    next(pieces)
    pieces.close()
    assert list(Function("not_a_stream").stream()) == ['{"whole":true}']
    failed, closed, whole = debug_log()
    assert failed.outcome == "FunctionError" and failed.getMessage().endswith("stream of 1 piece")
    assert closed.outcome == "closed" and closed.getMessage().endswith("stream of 1 piece")
    assert whole.outcome == "200" and "stream of" not in whole.getMessage()


def test_astream_is_logged_too(debug_log):
    async def main():
        return [piece async for piece in Function("async_generator").astream(parts=["a", "b", "c"])]

    assert asyncio.run(main()) == ["a", "b", "c"]
    [record] = debug_log()
    assert record.outcome == "200" and record.getMessage().endswith("stream of 3 pieces")
