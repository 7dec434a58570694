"""The one place that speaks HTTP to hosts, managers and proxies.

Calls go over plain sockets of our own (TCP, or Unix sockets: ``unix:/path/to.sock``), kept
alive, and answers are parsed by httptools (llhttp, the parser of Node's own server), which
does keep-alive, chunked bodies, 1xx, 204/304 and HTTP/1.0 as HTTP says: ``requests.Session``
costs about three times the raw floor per trivial call, and even ``http.client`` spends half
of a trivial call parsing headers into an email.message; a host exists to be fast. Each
thread of each process has its own connection, so no socket is ever shared between threads
or crosses a fork (gunicorn --preload, uwsgi, multiprocessing).

``AsyncTransport`` does the same for asyncio (``Function.acall``): kept-alive connections
per event loop, as many as there are calls in flight, and never a blocking socket call.

``post_stream`` on either gives an answer whose body is read as it comes (``Function.stream``):
its pieces as llhttp hands them over, within one deadline for the whole answer.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import threading
import time
from collections import namedtuple
from urllib.parse import urlsplit

import httptools

from .exceptions import ConfigError, ConnectionError, FunctionTimeout, UnexpectedResponse
from .protocol import JSON_HEADERS, REQUEST_ID_HEADER

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
    from typing import NamedTuple

    from .exceptions import JSHostError

    # A connection: its streams, and its parser (see _Answer).
    Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter, "_Answer"]
    IdleStreams = tuple[asyncio.StreamReader, asyncio.StreamWriter, "_Answer", float]  # and when it last answered

# What comes between a call's Content-Length and its request id.
REQUEST_ID_LINE = f"\r\n{REQUEST_ID_HEADER}: "
# Loopback connects are instant or refused; this bounds the wait for a remote ROOT_URL.
CONNECT_TIMEOUT = 5.0
# Connecting and sending took longer than this: the first read, too, waits only for what is
# left of the call's timeout (see _read_answer).
SLOW_SEND = 0.005
# Bodies up to this size go in one write with the headers (see Transport.request).
ONE_WRITE_LIMIT = 64 * 1024
# A connection idle for longer is not reused: a host closes its idle connections after 60 s
# (keepAliveTimeout in js/lib/host.js), and a request sent just then would be lost.
IDLE_REUSE_LIMIT = 50.0


if TYPE_CHECKING:

    class Response(NamedTuple):
        """An answer: its status, Content-Type, body, and the URL it came from."""

        status: int
        content_type: str
        body: bytes
        url: str

else:
    # A namedtuple, not a dataclass (importing dataclasses costs a fresh process ~8 ms), nor
    # typing.NamedTuple (importing typing ~2.5 ms): the same tuple, typed above.
    Response = namedtuple("Response", "status content_type body url")


# A base URL of this form names a Unix socket (nginx writes it the same way).
UNIX_PREFIX = "unix:"


def url_host(address: str) -> str:
    """``address`` as it goes into a URL: an IPv6 address in brackets."""
    return f"[{address}]" if ":" in address else address


def unix_url(socket_path: str) -> str:
    return UNIX_PREFIX + socket_path


class _Endpoint:
    """One base URL (``http(s)://host:port/prefix`` or ``unix:/path``), and the errors both
    transports raise about it, which call it ``peer``. ``extra_headers`` go with every
    request (a host's token)."""

    base_url: str
    socket_path: str | None
    _address: tuple[str, int] | None

    def __init__(
        self, base_url: str, extra_headers: Mapping[str, str] | None = None, *, peer: str = "The JS host"
    ) -> None:
        self.peer = peer
        if base_url.startswith(UNIX_PREFIX):
            self.base_url = base_url
            self.socket_path = socket_path = base_url[len(UNIX_PREFIX) :]
            if not os.path.isabs(socket_path):
                raise ConfigError(f"A Unix socket URL needs an absolute path: {base_url!r}")
            self._tls, self._address, self._path_prefix = False, None, ""
            self._host_header = "localhost"  # what a socket host's Host check expects
        else:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"Not an http:// or https:// URL: {base_url!r}")
            self.base_url = base_url.rstrip("/")
            self.socket_path = None
            self._tls = parts.scheme == "https"
            self._address = (parts.hostname, parts.port or (443 if self._tls else 80))
            self._path_prefix = parts.path.rstrip("/")
            self._host_header = parts.netloc.rpartition("@")[2]  # host[:port], as the URL says
        self._extra_head = "".join(f"{name}: {value}\r\n" for name, value in (extra_headers or {}).items())
        self._json_post = self._head_parts("POST", JSON_HEADERS)  # every call's, made once

    def url_of(self, path: str) -> str:
        """Where a request for ``path`` goes, as people read it (nginx's form for sockets)."""
        return f"{self.base_url}:{path}" if self.socket_path else self.base_url + path

    def _head_parts(self, method: str, headers: Mapping[str, str] | None) -> tuple[str, str]:
        """The head of a request as (what goes before its path, what goes between its path
        and the length of its body)."""
        lines = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        return (
            f"{method} {self._path_prefix}",
            f" HTTP/1.1\r\nHost: {self._host_header}\r\n{self._extra_head}{lines}Content-Length: ",
        )

    def _request_head(self, method: str, path: str, headers: Mapping[str, str] | None, body_length: int) -> bytes:
        """The request line and headers of a request, as bytes."""
        before, after = self._head_parts(method, headers)
        return f"{before}{path}{after}{body_length}\r\n\r\n".encode("latin-1")

    def _json_post_head(self, path: str, body_length: int, request_id: str) -> bytes:
        """_request_head of a call: a POST with a JSON body and a request id, from the parts
        made once (the id, which changes, last)."""
        before, after = self._json_post
        return f"{before}{path}{after}{body_length}{REQUEST_ID_LINE}{request_id}\r\n\r\n".encode("latin-1")

    def _no_answer(self, path: str, timeout: float) -> FunctionTimeout:
        return FunctionTimeout(f"No answer from {self.url_of(path)} within {timeout:g} s")

    def _answer_lost(self, method: str, path: str, error: BaseException, begun: bool = False) -> ConnectionError:
        """``begun``: part of the answer had come (a streamed one)."""
        when = "before the end of its answer to" if begun else "before answering"
        return ConnectionError(
            f"{self.peer} at {self.base_url} closed the connection {when} "
            f"{method} {path} ({error.__class__.__name__}: {error}). "
            "Did it crash or stop? Its output or logfile says why."
        )

    def _not_http(self, method: str, path: str, error: _NotHTTP) -> UnexpectedResponse:
        return UnexpectedResponse(
            f"{self.peer} at {self.base_url} answered {method} {path} with something that is not "
            f"HTTP/1.x ({error}). Is another program listening there?"
        )

    def _read_failed(
        self, method: str, path: str, timeout: float, error: Exception, begun: bool = False
    ) -> JSHostError:
        """What to raise for an error of sending a request or reading its answer (a timeout,
        a connection lost, an answer that is not HTTP), to be raised in its except block.
        ``begun``: as for _answer_lost."""
        failure: JSHostError
        if isinstance(error, (TimeoutError, BlockingIOError)):  # BlockingIOError: the kernel's timeout
            failure = self._no_answer(path, timeout)
        elif isinstance(error, _NotHTTP):
            failure = self._not_http(method, path, error)
        else:
            failure = self._answer_lost(method, path, error, begun)
            failure.__cause__ = error
        failure.__suppress_context__ = True
        return failure

    def _cannot_connect(self, reason: str) -> ConnectionError:
        return ConnectionError(
            f"Cannot connect to the JS host at {self.base_url} ({reason}). "
            "Is it running? Start it with `python manage.py jshost start`, "
            "`node js-host.js host.config.js`, or set USE_MANAGER=True in development."
        )


class Transport(_Endpoint):
    """Keep-alive HTTP/1.1 requests to one base URL (a host, a manager, or a proxy)."""

    def __init__(
        self, base_url: str, extra_headers: Mapping[str, str] | None = None, *, peer: str = "The JS host"
    ) -> None:
        super().__init__(base_url, extra_headers, peer=peer)
        self._local = threading.local()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Response:
        """Send one request and read the whole answer.

        Raises ConnectionError (nothing listening, or the peer hung up before answering),
        FunctionTimeout (no answer within ``timeout`` seconds) and UnexpectedResponse (an
        answer that is not HTTP). Any HTTP status is returned, not raised: what a status
        means is the caller's business.
        """
        body = body or b""
        return self._exchange(method, path, self._request_head(method, path, headers, len(body)), body, timeout)

    def post_json(self, path: str, body: bytes, timeout: float, request_id: str) -> Response:
        """A call's ``request("POST", path, body, {"Content-Type": "application/json",
        "X-Request-ID": request_id}, timeout)``, its head made from parts made once."""
        return self._exchange("POST", path, self._json_post_head(path, len(body), request_id), body, timeout)

    def post_stream(self, path: str, body: bytes, timeout: float, request_id: str) -> StreamedAnswer:
        """POST JSON as post_json does, and return the answer once its head is in; its body
        is read as it comes, within ``timeout`` from now for the whole answer.

        The answer has this thread's connection until it is closed: calls made meanwhile
        open another.
        """
        started = time.monotonic()
        connection = self._connection(started)
        self._local.connection = None
        sock = connection.sock
        if sock is None:
            sock = self._open(connection)
        deadline = started + timeout
        answer = connection.answer
        answer.expect()
        try:
            connection.set_timeout(timeout)
            sock.sendall(self._json_post_head(path, len(body), request_id) + body)
            while not answer.headers_read:
                _receive(connection, sock, deadline)
        except (OSError, _NotHTTP) as error:
            connection.close()
            raise self._read_failed("POST", path, timeout, error)  # noqa: B904 (its cause is set)
        return StreamedAnswer(self, connection, path, deadline, timeout)

    def _take_back(self, connection: _Connection, forks_seen: int) -> None:
        """A connection a StreamedAnswer read to its end: this thread's again, unless it
        has opened another meanwhile (or the process forked)."""
        local = self._local
        if forks_seen == _forks_seen and getattr(local, "connection", None) is None:
            local.connection = connection
            local.forks_seen = forks_seen
        else:
            connection.close()

    def _exchange(self, method: str, path: str, head: bytes, body: bytes, timeout: float) -> Response:
        started = time.monotonic()
        connection = self._connection(started)
        sock = connection.sock
        if sock is None:
            sock = self._open(connection)
        try:
            if connection.read_timeout != timeout:  # a syscall: only when it changes
                connection.set_timeout(timeout)
            if len(body) <= ONE_WRITE_LIMIT:
                # One write: one system call, and no wait on the peer's delayed ACK between
                # headers and body. A big body is not copied to join it.
                sock.sendall(head + body)
            else:
                sock.sendall(head)
                sock.sendall(body)
            url = self.url_of(path)  # while the host works, not after it answered
            status, content_type, payload, reusable = _read_answer(connection, sock, started, timeout)
        except (TimeoutError, BlockingIOError):  # BlockingIOError: the kernel's timeout
            connection.close()
            raise self._no_answer(path, timeout) from None
        except OSError as error:
            connection.close()
            raise self._answer_lost(method, path, error) from error
        except _NotHTTP as error:
            connection.close()
            raise self._not_http(method, path, error) from None
        if reusable:
            connection.answered_at = time.monotonic()
        else:
            connection.close()
        return Response(status, content_type, payload, url)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()

    def _connection(self, now: float) -> _Connection:
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None or local.forks_seen != _forks_seen:
            # A connection inherited through fork belongs to the parent: leave it to the
            # parent and open our own.
            connection = local.connection = _Connection()
            local.forks_seen = _forks_seen
        elif connection.sock is not None and (
            connection.idle_poller.poll(0) or now - connection.answered_at > IDLE_REUSE_LIMIT
        ):
            # Readable while idle: the host restarted, stopped, or timed the socket out.
            # Idle for long: it is about to (its keep-alive timeout), and a request sent
            # as it closes would be lost. Reconnect now rather than fail on send.
            connection.close()
        return connection

    def _open(self, connection: _Connection) -> socket.socket:
        """Connect ``connection``; returns its new socket."""
        address = self._address
        try:
            if self.socket_path:
                sock = _connect_unix(self.socket_path)
            else:
                assert address is not None  # an http(s):// URL has one
                sock = _connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                import ssl  # only for https:// ROOT_URLs (~10 ms to import)

                assert address is not None
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=address[0])
            else:
                sock.settimeout(None)  # blocking: set_timeout gives the kernel the timeouts
                connection.kernel_timeouts = True
        except OSError as error:
            reason = error.strerror or str(error) or error.__class__.__name__
            raise self._cannot_connect(reason) from error
        connection.sock = sock
        connection.read_timeout = None
        connection.idle_poller = select.poll()
        connection.idle_poller.register(sock, select.POLLIN)
        connection.answer = _Answer()
        return sock


class AsyncTransport(_Endpoint):
    """Kept-alive HTTP/1.1 requests to one base URL from asyncio code.

    asyncio streams and the same answer parsing as Transport, rather than an HTTP client
    dependency. Idle connections are kept per event loop, since asyncio streams belong to the
    loop that opened them.
    """

    def __init__(
        self, base_url: str, extra_headers: Mapping[str, str] | None = None, *, peer: str = "The JS host"
    ) -> None:
        super().__init__(base_url, extra_headers, peer=peer)
        # event loop -> ([(reader, writer, answer, answered at)], the generator that closes them)
        self._idle: dict[asyncio.AbstractEventLoop, tuple[list[IdleStreams], AsyncGenerator[None, None]]] = {}

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = b"",
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Response:
        """As Transport.request, awaited: the event loop runs on while the host works."""
        body = body or b""
        return await self._exchange(method, path, self._request_head(method, path, headers, len(body)), body, timeout)

    async def post_json(self, path: str, body: bytes, timeout: float, request_id: str) -> Response:
        """As Transport.post_json, awaited."""
        return await self._exchange("POST", path, self._json_post_head(path, len(body), request_id), body, timeout)

    async def post_stream(self, path: str, body: bytes, timeout: float, request_id: str) -> AsyncStreamedAnswer:
        """As Transport.post_stream, awaited; the answer's body is read with ``apieces()``."""
        import asyncio

        deadline = time.monotonic() + timeout
        idle = await self._idle_connections(asyncio.get_running_loop())
        reader, writer, answer = await self._reuse_or_open(idle)
        answer.expect()
        try:
            writer.write(self._json_post_head(path, len(body), request_id) + body)
            while not answer.headers_read:
                await _areceive(reader, answer, deadline)
        except asyncio.TimeoutError:  # not a builtin TimeoutError before Python 3.11
            writer.close()
            raise self._no_answer(path, timeout) from None
        except (OSError, _NotHTTP) as error:
            writer.close()
            raise self._read_failed("POST", path, timeout, error)  # noqa: B904 (its cause is set)
        return AsyncStreamedAnswer(self, (reader, writer, answer), idle, path, deadline, timeout)

    async def _exchange(self, method: str, path: str, head: bytes, body: bytes, timeout: float) -> Response:
        import asyncio  # imported by async code already; a sync process should not pay ~25 ms

        idle = await self._idle_connections(asyncio.get_running_loop())
        streams: Streams | None = None
        while idle and streams is None:
            reader, writer, answer, answered_at = idle.pop()
            # Closed by the host, or idle long enough that it is about to (see IDLE_REUSE_LIMIT).
            if reader.at_eof() or writer.is_closing() or time.monotonic() - answered_at > IDLE_REUSE_LIMIT:
                writer.close()
            else:
                streams = reader, writer, answer
        if streams is None:
            streams = await self._open()
        reader, writer, answer = streams
        try:
            writer.write(head + body)
            status, content_type, payload, reusable = await asyncio.wait_for(_aread_answer(reader, answer), timeout)
        except asyncio.TimeoutError:
            writer.close()
            raise self._no_answer(path, timeout) from None
        except OSError as error:
            writer.close()
            raise self._answer_lost(method, path, error) from error
        except _NotHTTP as error:
            writer.close()
            raise self._not_http(method, path, error) from None
        if reusable:
            idle.append((reader, writer, answer, time.monotonic()))
        else:
            writer.close()
        return Response(status, content_type, payload, self.url_of(path))

    async def _reuse_or_open(self, idle: list[IdleStreams]) -> Streams:
        """An idle connection of the loop's that is still good, or a new one. (_exchange
        does the same inline: a coroutine more would cost every acall.)"""
        while idle:
            reader, writer, answer, answered_at = idle.pop()
            # Closed by the host, or idle long enough that it is about to (see IDLE_REUSE_LIMIT).
            if reader.at_eof() or writer.is_closing() or time.monotonic() - answered_at > IDLE_REUSE_LIMIT:
                writer.close()
            else:
                return reader, writer, answer
        return await self._open()

    async def _idle_connections(self, loop: asyncio.AbstractEventLoop) -> list[IdleStreams]:
        """This loop's idle connections, closed when the loop shuts down."""
        if loop not in self._idle:
            # Loops closed without shutting down (no asyncio.run) leave theirs behind.
            for old_loop in [old for old in self._idle if old.is_closed()]:
                for _, writer, _, _ in self._idle.pop(old_loop)[0]:
                    writer.transport.abort()
            closer = self._close_idle_at_shutdown(loop)
            await closer.asend(None)
            self._idle[loop] = ([], closer)
        return self._idle[loop][0]

    async def _close_idle_at_shutdown(self, loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
        # An async generator, because a loop finalizes those as it shuts down
        # (loop.shutdown_asyncgens(), which asyncio.run calls): asyncio has no other hook.
        try:
            yield
        finally:
            idle, _ = self._idle.pop(loop, ([], None))
            for _, writer, _, _ in idle:
                writer.close()

    async def _open(self) -> Streams:
        import asyncio

        if self.socket_path:
            opening = asyncio.open_unix_connection(self.socket_path)
        else:
            assert self._address is not None  # an http(s):// URL has one
            opening = asyncio.open_connection(*self._address, ssl=self._tls or None)
        try:
            reader, writer = await asyncio.wait_for(opening, CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as error:
            reason = getattr(error, "strerror", None) or str(error) or error.__class__.__name__
            raise self._cannot_connect(reason) from error
        return reader, writer, _Answer()


def _connect(address: tuple[str, int]) -> socket.socket:
    """A socket connected to (host, port), within CONNECT_TIMEOUT.

    An IP address (every loopback host's) is connected to directly: create_connection()
    asks getaddrinfo first, and the first time it does, imports the idna codec (~1.4 ms of
    a fresh process's first call).
    """
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.inet_pton(family, host)
    except OSError:  # a name: look it up
        return socket.create_connection(address, CONNECT_TIMEOUT)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_unix(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


# struct timeval, for SO_RCVTIMEO and SO_SNDTIMEO: two longs on Linux; on macOS a long, an
# int and padding. Elsewhere a setsockopt that refuses it falls back to settimeout().
TIMEVAL_FORMAT = "@qi4x" if sys.platform == "darwin" else "@ll"


class _Connection:
    """A thread's kept-alive socket, and what is known about it."""

    sock: socket.socket | None = None
    read_timeout: float | None = None  # the socket's timeout now, so it is set only when it changes
    answered_at = 0.0  # time.monotonic() of its last answer: how long it has been idle
    # Set (by Transport._open) whenever sock is, and read only then: what polls the socket
    # for a close by the peer between requests, and the parser of its answers.
    idle_poller: select.poll
    answer: _Answer
    kernel_timeouts = False  # a blocking socket whose timeouts the kernel keeps

    def __init__(self) -> None:
        self.buffer = memoryview(bytearray(RECV_SIZE))  # what each read fills

    def set_timeout(self, timeout: float) -> None:
        """Bound each send and receive by ``timeout`` seconds.

        By the kernel where it can (SO_RCVTIMEO and SO_SNDTIMEO on a blocking socket, which
        then raises BlockingIOError): Python's settimeout() polls before every send and
        receive, two more system calls and a wake-up per call, a tenth of a trivial call
        over a Unix socket.
        """
        sock = self.sock
        assert sock is not None  # called on an open connection only
        if self.kernel_timeouts:
            seconds = int(timeout)
            microseconds = max(int((timeout - seconds) * 1_000_000), 0 if seconds else 1)  # 0 0: never
            timeval = struct.pack(TIMEVAL_FORMAT, seconds, microseconds)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            except OSError:
                self.kernel_timeouts = False
        if not self.kernel_timeouts:
            sock.settimeout(timeout)
        self.read_timeout = timeout

    def wait_at_most_until(self, deadline: float) -> None:
        """Bound the next send or receive by what is left until ``deadline``."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.set_timeout(left)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __del__(self) -> None:
        # A connection lives in a thread-local: it goes when its thread or its Transport
        # does, and an unclosed socket would then raise ResourceWarning.
        self.close()


# What one read asks for: a trivial answer whole, into a buffer each connection keeps (no
# allocation per read; recv(n) allocates n bytes first, then shrinks them).
RECV_SIZE = 64 * 1024


class _NotHTTP(Exception):
    """What came back is not an HTTP/1.x answer (llhttp says why)."""


class _Answer:
    """The answer being read on one connection, as its httptools (llhttp) parser reports it.

    Made with its parser when the connection opens, and used for every answer on it: llhttp
    goes on to the next answer of a kept-alive connection by itself. After ``feed``, an
    answer is ``complete`` or needs more bytes; ``end_of_stream`` tells it the peer closed.
    """

    __slots__ = ("body", "complete", "content_type", "framing", "headers_read", "keep_alive", "length",
                 "parser", "started", "status")
    body: list[bytes]  # as it came, in pieces
    content_type: bytes
    framing: str
    length: bytes  # the Content-Length header, for messages

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.expect()

    def expect(self) -> None:
        """Forget the last answer: the next one is for a new request. (``status`` and
        ``keep_alive`` are set as an answer completes.)"""
        self.started = self.complete = False
        self._headers_expected()

    def _headers_expected(self) -> None:
        self.headers_read = False
        self.content_type = b""
        self.body = []
        # How the body ends: "length" (Content-Length), "chunked", or "close" (the peer
        # closes the connection after it: HTTP/1.0 and some proxies).
        self.framing = "close"

    def feed(self, data: bytes | memoryview) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # 101 Switching Protocols
            raise _NotHTTP("it switched protocols (101), which no request of ours asks for") from None
        except httptools.HttpParserError as error:
            if not self.complete:
                raise _NotHTTP(f"{str(error) or error.__class__.__name__}, in {bytes(data[:80])!r}") from None
            # Bytes after the answer (see on_message_begin), or after its `Connection: close`:
            # the peer frames its answers otherwise than we read them. The answer stands;
            # the connection goes.
            self.keep_alive = False

    def end_of_stream(self) -> None:
        """The peer closed the connection: the answer ends here, or was cut short."""
        if self.headers_read and self.framing == "close":
            self.status, self.keep_alive, self.complete = self.parser.get_status_code(), False, True
            return
        if not self.started:
            where = "before the status line"
        elif not self.headers_read:
            where = "inside the headers"
        elif self.framing == "length":
            where = f"after {sum(map(len, self.body))} of {self.length.decode('latin-1')} body bytes"
        else:
            where = "inside a chunked body"
        raise ConnectionResetError(f"the connection closed {where}")

    def result(self) -> tuple[int, str, bytes, bool]:
        """(status, content type, body, reusable) of the complete answer. A connection is
        reused only after an answer whose end it could tell, and whose peer keeps it open."""
        body = self.body
        return (
            self.status,
            self.content_type.decode("latin-1"),
            body[0] if len(body) == 1 else b"".join(body),
            self.keep_alive,
        )

    # The parser's callbacks (httptools.HTTPProtocol).

    def on_message_begin(self) -> None:
        if self.complete:
            raise _NotHTTP("more after the answer")  # stops the parser: see feed
        self.started = True

    def on_header(self, name: bytes, value: bytes) -> None:
        # By length first: of the five or so headers of an answer, only these are lowercased.
        size = len(name)
        if size == 12 and name.lower() == b"content-type":
            self.content_type = value
        elif size == 14 and name.lower() == b"content-length":
            self.framing, self.length = "length", value
        elif size == 17 and name.lower() == b"transfer-encoding":
            # As llhttp reads it: chunked if that is the last coding, else until the close.
            self.framing = "chunked" if value.rstrip().lower().endswith(b"chunked") else "close"

    def on_headers_complete(self) -> None:
        self.headers_read = True

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers_expected()
            return
        # Asked now: llhttp forgets it once the next answer may begin.
        self.status, self.keep_alive, self.complete = status, self.parser.should_keep_alive(), True


def _read_answer(
    connection: _Connection, sock: socket.socket, started: float, timeout: float
) -> tuple[int, str, bytes, bool]:
    """(status, content type, body, reusable) of one answer on a blocking socket.

    Each read waits only for what is left of the call's ``timeout``: FUNCTION_TIMEOUT bounds
    the whole call, so an answer that trickles in a byte at a time cannot stretch it. A
    small answer comes in the first read, which waits the socket's timeout as set (no system
    call to set it again) unless connecting or sending took a while.
    """
    answer, buffer = connection.answer, connection.buffer
    answer.expect()
    deadline = started + timeout
    if time.monotonic() - started > SLOW_SEND:
        connection.wait_at_most_until(deadline)
    count = sock.recv_into(buffer)
    while True:
        if count:
            answer.feed(buffer[:count])
        else:
            answer.end_of_stream()
        if answer.complete:
            return answer.result()
        connection.wait_at_most_until(deadline)
        count = sock.recv_into(buffer)


async def _aread_answer(reader: asyncio.StreamReader, answer: _Answer) -> tuple[int, str, bytes, bool]:
    """_read_answer for asyncio streams."""
    answer.expect()
    while True:
        data = await reader.read(RECV_SIZE)
        if data:
            answer.feed(data)
        else:
            answer.end_of_stream()
        if answer.complete:
            return answer.result()


def _receive(connection: _Connection, sock: socket.socket, deadline: float) -> None:
    """Feed one read of an answer (what has come, or the peer's close) to its parser."""
    connection.wait_at_most_until(deadline)
    count = sock.recv_into(connection.buffer)
    if count:
        connection.answer.feed(connection.buffer[:count])
    else:
        connection.answer.end_of_stream()


async def _areceive(reader: asyncio.StreamReader, answer: _Answer, deadline: float) -> None:
    """_receive for asyncio streams; raises asyncio.TimeoutError past ``deadline``."""
    import asyncio

    data = await asyncio.wait_for(reader.read(RECV_SIZE), max(deadline - time.monotonic(), 0))
    if data:
        answer.feed(data)
    else:
        answer.end_of_stream()


class _StreamedAnswerBase:
    """An answer whose head is in and whose body is read as it comes, within ``deadline``
    (time.monotonic()) for the whole answer. ``close()`` it when done with it, read or not:
    a connection whose answer was read to its end is reused; one cut short is closed, which
    tells the host that its caller stopped waiting (the function's this.signal aborts)."""

    status: int
    content_type: str
    url: str

    def __init__(self, endpoint: _Endpoint, answer: _Answer, path: str, deadline: float, timeout: float) -> None:
        self._endpoint = endpoint
        self._answer = answer
        self._path = path
        self._deadline = deadline
        self._timeout = timeout
        self.status = answer.parser.get_status_code()
        self.content_type = answer.content_type.decode("latin-1")
        self.url = endpoint.url_of(path)
        self.closed = False

    def _taken(self) -> list[bytes]:
        """The body's pieces parsed since the last call."""
        answer = self._answer
        pieces, answer.body = answer.body, []
        return pieces

    def _read_failed(self, error: Exception) -> JSHostError:
        """What to raise for an error reading the body (the connection is closed)."""
        self.close()
        if isinstance(error, (TimeoutError, BlockingIOError)):
            return self._unfinished()
        return self._endpoint._read_failed("POST", self._path, self._timeout, error, begun=True)

    def _unfinished(self) -> FunctionTimeout:
        self.close()
        return FunctionTimeout(
            f"The answer from {self.url} did not end within {self._timeout:g} s "
            "(the timeout covers a streamed answer whole)"
        )

    def close(self) -> None:
        raise NotImplementedError


class StreamedAnswer(_StreamedAnswerBase):
    """An answer of Transport.post_stream (see _StreamedAnswerBase)."""

    def __init__(
        self, transport: Transport, connection: _Connection, path: str, deadline: float, timeout: float
    ) -> None:
        super().__init__(transport, connection.answer, path, deadline, timeout)
        self._transport = transport
        self._connection = connection
        self._forks_seen = _forks_seen

    def pieces(self) -> Iterator[bytes]:
        """The body's bytes, in pieces as they arrive, to its end."""
        connection = self._connection
        answer, sock = connection.answer, connection.sock
        assert sock is not None  # open until close()
        try:
            while True:
                yield from self._taken()
                if answer.complete:
                    return
                _receive(connection, sock, self._deadline)
        except (OSError, _NotHTTP) as error:
            raise self._read_failed(error)  # noqa: B904 (its cause is set)

    def whole(self) -> Response:
        """The rest of the answer, read to its end, as Transport.request returns one."""
        try:
            return Response(self.status, self.content_type, b"".join(self.pieces()), self.url)
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        connection = self._connection
        if self._answer.complete and self._answer.keep_alive:
            connection.answered_at = time.monotonic()
            self._transport._take_back(connection, self._forks_seen)
        else:
            connection.close()


class AsyncStreamedAnswer(_StreamedAnswerBase):
    """An answer of AsyncTransport.post_stream (see _StreamedAnswerBase)."""

    def __init__(
        self,
        transport: AsyncTransport,
        streams: Streams,
        idle: list[IdleStreams],
        path: str,
        deadline: float,
        timeout: float,
    ) -> None:
        super().__init__(transport, streams[2], path, deadline, timeout)
        self._streams = streams
        self._idle = idle

    async def apieces(self) -> AsyncIterator[bytes]:
        """The body's bytes, in pieces as they arrive, to its end."""
        import asyncio

        reader, _, answer = self._streams
        try:
            while True:
                for piece in self._taken():
                    yield piece
                if answer.complete:
                    return
                await _areceive(reader, answer, self._deadline)
        except asyncio.TimeoutError:  # not a builtin TimeoutError before Python 3.11
            raise self._unfinished() from None
        except (OSError, _NotHTTP) as error:
            raise self._read_failed(error)  # noqa: B904 (its cause is set)

    async def whole(self) -> Response:
        """The rest of the answer, read to its end, as AsyncTransport.request returns one."""
        try:
            body = b"".join([piece async for piece in self.apieces()])
            return Response(self.status, self.content_type, body, self.url)
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        reader, writer, answer = self._streams
        if answer.complete and answer.keep_alive and not writer.is_closing():
            self._idle.append((reader, writer, answer, time.monotonic()))
        else:
            writer.close()


def _count_fork() -> None:
    global _forks_seen
    _forks_seen += 1


# Counted in the child at every fork, so a connection can tell it was inherited without
# asking the kernel for our pid on every call.
_forks_seen = 0
os.register_at_fork(after_in_child=_count_fork)
