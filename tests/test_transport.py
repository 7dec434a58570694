"""Kept-alive connections: reused, never shared between threads, never across a fork."""

import asyncio
import json
import os
import re
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from django_js_host import ConnectionError, FunctionTimeout, UnexpectedResponse, transport
from django_js_host.function import Function
from django_js_host.host import host as default_host
from django_js_host.transport import AsyncTransport, Transport

from .proxy import recording_proxy
from .support.hosts import js_host_for_test

pytestmark = pytest.mark.usefixtures("js_host_settings")


def local_port_of_this_threads_connection():
    return default_host.transport._local.connection.sock.getsockname()[1]


def test_calls_reuse_one_kept_alive_connection():
    echo = Function("echo")
    echo.call(n=1)
    port = local_port_of_this_threads_connection()
    for n in range(20):
        assert echo.call_json(n=n) == {"n": n}
    assert local_port_of_this_threads_connection() == port


def test_a_connection_idle_for_long_is_not_reused(monkeypatch):
    # The host closes a connection idle for its keep-alive timeout: one idle for nearly as
    # long is replaced before a request can be sent as it closes.
    monkeypatch.setattr(transport, "IDLE_REUSE_LIMIT", 0.2)
    echo = Function("echo")
    echo.call(n=1)
    port = local_port_of_this_threads_connection()
    assert echo.call_json(n=2) == {"n": 2}
    assert local_port_of_this_threads_connection() == port  # within the limit: reused
    time.sleep(0.3)
    assert echo.call_json(n=3) == {"n": 3}
    assert local_port_of_this_threads_connection() != port


def test_an_async_connection_idle_for_long_is_not_reused(monkeypatch, fixture_host):
    monkeypatch.setattr(transport, "IDLE_REUSE_LIMIT", 0.2)

    async def writers_of_three_requests():
        client = AsyncTransport(fixture_host.url)
        idle = client._idle  # per event loop: [(reader, writer, answer, answered at)]

        async def request():
            await client.request("GET", "/status", timeout=5)
            ((_, writer, _, _),) = idle[asyncio.get_running_loop()][0]
            return writer

        first, again = await request(), await request()
        await asyncio.sleep(0.3)
        return first, again, await request()

    first, again, later = asyncio.run(writers_of_three_requests())
    assert again is first  # within the limit: reused
    assert later is not first


def test_threads_never_get_each_others_answers():
    echo = Function("echo")
    mismatches, errors = [], []

    def worker(thread_number):
        try:
            for call_number in range(200):
                token = f"{thread_number}-{call_number}"
                answer = echo.call_json(token=token)
                if answer != {"token": token}:
                    mismatches.append((token, answer))
        except Exception as error:  # surfaced below, with the thread's failure
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert mismatches == []


def test_a_forked_child_opens_its_own_connection():
    echo = Function("echo")
    assert echo.call_json(who="parent") == {"who": "parent"}
    parent_port = local_port_of_this_threads_connection()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        try:
            answer = echo.call_json(who="child")
            report = {"answer": answer, "port": local_port_of_this_threads_connection()}
        except BaseException as error:
            report = {"error": repr(error)}
        os.write(write_end, json.dumps(report).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        report = json.loads(reader.read())
    os.waitpid(pid, 0)
    assert report.get("answer") == {"who": "child"}, report
    assert report["port"] != parent_port
    assert echo.call_json(who="parent again") == {"who": "parent again"}
    assert local_port_of_this_threads_connection() == parent_port


# --- what the transports read: every framing a host or a proxy in front of it may send ---


@contextmanager
def canned_server(answer, chunk_size=None, pause=0.001, keep_open=False):
    """A server that answers every request with ``answer`` (in pieces of ``chunk_size`` bytes,
    if given, ``pause`` seconds apart) and closes the connection; with ``keep_open`` it waits
    for the next request on it instead, whatever the answer said, so the connections it
    accepted show which ones the client reused. Yields its URL and those connections."""
    server = socket.create_server(("127.0.0.1", 0))
    connections, handlers = [], []
    pieces = [answer] if chunk_size is None else [answer[i : i + chunk_size] for i in range(0, len(answer), chunk_size)]

    def next_request(client, received):
        """What came after the next whole request (head and Content-Length body), or None
        once the client has closed."""
        while b"\r\n\r\n" not in received:
            more = client.recv(65536)
            if not more:
                return None
            received += more
        head, _, rest = received.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), 0)
        while len(rest) < length:
            more = client.recv(65536)
            if not more:
                return None
            rest += more
        return rest[length:]

    def handle(client):
        with client:
            received = b""
            try:
                while (received := next_request(client, received)) is not None:
                    for piece in pieces:
                        client.sendall(piece)
                        if chunk_size is not None:
                            time.sleep(pause)  # separate segments, so reads see them apart
                    if not keep_open:
                        return
            except OSError:
                pass  # the client stopped waiting

    def serve():
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            connections.append(client)
            handler = threading.Thread(target=handle, args=(client,), daemon=True)
            handlers.append(handler)
            handler.start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", connections
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close() alone would not
        server.close()
        thread.join(5)
        for client in connections:
            try:
                client.shutdown(socket.SHUT_RDWR)  # wakes a handler waiting for a request
            except OSError:
                pass  # closed already
        for handler in [thread, *handlers]:
            handler.join(5)
            assert not handler.is_alive()


def request_both_ways(url):
    """The same GET through Transport and AsyncTransport: their two Responses."""

    async def async_request():
        return await AsyncTransport(url).request("GET", "/status", timeout=5)

    client = Transport(url)
    try:
        sync_response = client.request("GET", "/status", timeout=5)
    finally:
        client.close()
    return sync_response, asyncio.run(async_request())


@pytest.mark.parametrize(
    "answer, body",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
        (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n",
            b"hello",
        ),
        (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, until the close", b"hello, until the close"),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
            b"hello",
        ),
    ],
    ids=["content-length", "chunked-with-extension-and-trailer", "close-delimited", "after-100-continue"],
)
@pytest.mark.parametrize("chunk_size", [None, 1, 7], ids=["whole", "byte-by-byte", "7-byte-pieces"])
def test_every_framing_is_read_however_it_arrives(answer, body, chunk_size):
    with canned_server(answer, chunk_size) as (url, _):
        for response in request_both_ways(url):
            assert (response.status, response.content_type, response.body) == (200, "text/plain", body)


def test_a_204_has_no_body():
    """204 and 304 never have a body: reading one until the close would wait for the timeout."""
    answer = b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n"
    with canned_server(answer) as (url, _):
        started = time.monotonic()
        for response in request_both_ways(url):
            assert (response.status, response.body) == (204, b"")
        assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    ],
    ids=["nothing", "headers-cut-short", "body-cut-short", "chunked-cut-short"],
)
def test_a_broken_answer_is_a_connection_error_naming_the_url(answer):
    with canned_server(answer) as (url, _):
        client = Transport(url)
        with pytest.raises(ConnectionError, match=f"The JS host at {url} closed the connection before answering"):
            client.request("GET", "/status", timeout=5)
        with pytest.raises(ConnectionError, match=f"The JS host at {url} closed the connection before answering"):
            asyncio.run(AsyncTransport(url).request("GET", "/status", timeout=5))


@pytest.mark.parametrize(
    "answer, cause",
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "Expected HTTP/"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "Invalid response status"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "Invalid header token"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "Duplicate Content-Length"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "Transfer-Encoding can't be present with Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "Invalid character in chunk size"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", "it switched protocols"),
    ],
    ids=["not-http", "bad-status", "bad-header", "two-lengths", "length-and-chunked", "bad-chunk-size", "upgrade"],
)
def test_a_malformed_answer_is_an_unexpected_response_naming_the_cause(answer, cause):
    # Not a host that went away (ConnectionError), but something that answers otherwise
    # than HTTP allows: llhttp's reason is in the message, with the URL.
    with canned_server(answer) as (url, _):
        client = Transport(url)
        expected = f"The JS host at {url} answered GET /status with something that is not HTTP/1.x \\("
        expected += re.escape(cause)
        with pytest.raises(UnexpectedResponse, match=expected):
            client.request("GET", "/status", timeout=5)
        with pytest.raises(UnexpectedResponse, match=expected):
            asyncio.run(AsyncTransport(url).request("GET", "/status", timeout=5))


HELLO = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


@pytest.mark.parametrize(
    "answer, status, body, reused",
    [
        (HELLO, 200, b"hello", True),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", 200, b"hello", True),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + HELLO, 200, b"hello", True),
        (b"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n", 204, b"", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello", False),
        (HELLO + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra", 200, b"hello", False),
        (HELLO + b"garbage", 200, b"hello", False),
    ],
    ids=[
        "keep-alive", "chunked", "after-100-continue", "204", "http-1.0-keep-alive",
        "http-1.0", "connection-close", "a-second-answer-after-it", "bytes-after-it",
    ],
)
def test_a_connection_is_reused_only_after_an_answer_that_keeps_it(answer, status, body, reused):
    # The server keeps every connection open, whatever its answer says: only the client's
    # reading decides whether it sends its next request on the same one.
    async def three_async_requests(url):
        client = AsyncTransport(url)
        return [await client.request("GET", "/status", timeout=5) for _ in range(3)]

    with canned_server(answer, keep_open=True) as (url, connections):
        client = Transport(url)
        try:
            responses = [client.request("GET", "/status", timeout=5) for _ in range(3)]
        finally:
            client.close()
        assert len(connections) == (1 if reused else 3)
        responses += asyncio.run(three_async_requests(url))
        assert len(connections) == (2 if reused else 6)
    assert [(response.status, response.body) for response in responses] == [(status, body)] * 6


def test_http_1_0_answers_are_never_reused(settings, fixture_host):
    # A proxy that answers HTTP/1.0 closes each connection after its answer, without saying
    # so: a connection reused after it failed about one call in ten.
    with recording_proxy(fixture_host.url, http_version="HTTP/1.0") as proxy:
        settings.JS_HOST = {**js_host_for_test(fixture_host.config_file), "ROOT_URL": proxy.url}
        for n in range(200):
            assert Function("echo").call_json(n=n) == {"n": n}
        assert len(proxy.connections) == len(proxy.paths) == 201  # /status first, then each call


TRICKLED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 60\r\n\r\n" + b"x" * 60


@pytest.mark.parametrize("style", ["sync", "async"])
def test_the_timeout_bounds_the_whole_call_not_each_read(style):
    # A byte every 50 ms: each read gets something well within the timeout, and the whole
    # answer would take 6 s.
    with canned_server(TRICKLED, chunk_size=1, pause=0.05) as (url, _):
        started = time.monotonic()
        with pytest.raises(FunctionTimeout, match="within 1 s"):
            if style == "sync":
                client = Transport(url)
                try:
                    client.request("POST", "/function/slow", b"{}", timeout=1.0)
                finally:
                    client.close()
            else:
                asyncio.run(AsyncTransport(url).request("POST", "/function/slow", b"{}", timeout=1.0))
        assert 1.0 <= time.monotonic() - started < 1.5
