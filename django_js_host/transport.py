"""The one place that speaks HTTP to hosts, managers and proxies.

Calls go over plain sockets (TCP, or Unix sockets: ``unix:/path/to.sock``), kept alive,
with a small HTTP/1.1 reader of our own: ``requests.Session`` costs about three times the
raw floor per trivial call, and even ``http.client`` spends half of a trivial call parsing
headers into an email.message; a host exists to be fast. Each thread of each process has its
own connection, so no socket is ever shared between threads or crosses a fork (gunicorn
--preload, uwsgi, multiprocessing).

``AsyncTransport`` does the same for asyncio (``Function.acall``): kept-alive connections
per event loop, as many as there are calls in flight, and never a blocking socket call.
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

from .exceptions import ConfigError, ConnectionError, FunctionTimeout

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncGenerator, Mapping
    from typing import Literal, NamedTuple

    Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
    IdleStreams = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]  # and when it last answered
    Framing = Literal["none", "length", "chunked", "close"]

# Loopback connects are instant or refused; this bounds the wait for a remote ROOT_URL.
CONNECT_TIMEOUT = 5.0
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
    transports raise about it. ``extra_headers`` go with every request (a host's token)."""

    base_url: str
    socket_path: str | None
    _address: tuple[str, int] | None

    def __init__(self, base_url: str, extra_headers: Mapping[str, str] | None = None) -> None:
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

    def url_of(self, path: str) -> str:
        """Where a request for ``path`` goes, as people read it (nginx's form for sockets)."""
        return f"{self.base_url}:{path}" if self.socket_path else self.base_url + path

    def _request_head(self, method: str, path: str, headers: Mapping[str, str] | None, body_length: int) -> bytes:
        """The request line and headers of a request, as bytes."""
        head = [f"{method} {self._path_prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n{self._extra_head}"]
        if headers:
            head += [f"{name}: {value}\r\n" for name, value in headers.items()]
        head.append(f"Content-Length: {body_length}\r\n\r\n")
        return "".join(head).encode("latin-1")

    def _no_answer(self, path: str, timeout: float) -> FunctionTimeout:
        return FunctionTimeout(f"No answer from {self.url_of(path)} within {timeout:g} s")

    def _answer_lost(self, method: str, path: str, error: BaseException) -> ConnectionError:
        return ConnectionError(
            f"The JS host at {self.base_url} closed the connection before answering "
            f"{method} {path} ({error.__class__.__name__}: {error}). "
            "Did it crash or stop? Its output or logfile says why."
        )

    def _cannot_connect(self, reason: str) -> ConnectionError:
        return ConnectionError(
            f"Cannot connect to the JS host at {self.base_url} ({reason}). "
            "Is it running? Start it with `python manage.py jshost start`, "
            "`node js-host.js host.config.js`, or set USE_MANAGER=True in development."
        )


class Transport(_Endpoint):
    """Keep-alive HTTP/1.1 requests to one base URL (a host, a manager, or a proxy)."""

    def __init__(self, base_url: str, extra_headers: Mapping[str, str] | None = None) -> None:
        super().__init__(base_url, extra_headers)
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

        Raises ConnectionError (nothing listening, or the peer hung up before answering)
        and FunctionTimeout (no answer within ``timeout`` seconds). Any HTTP status is
        returned, not raised: what a status means is the caller's business.
        """
        started = time.monotonic()
        connection = self._connection(started)
        sock = connection.sock
        if sock is None:
            sock = self._open(connection)
        body = body or b""
        head = self._request_head(method, path, headers, len(body))
        try:
            if connection.read_timeout != timeout:  # a syscall: only when it changes
                connection.set_timeout(timeout)
            reads = _TimedReads(connection, sock, timeout, started)
            if len(body) <= ONE_WRITE_LIMIT:
                # One write: one system call, and no wait on the peer's delayed ACK between
                # headers and body. A big body is not copied to join it.
                sock.sendall(head + body)
            else:
                sock.sendall(head)
                sock.sendall(body)
            status, content_type, payload, reusable = _read_response(reads)
        except (TimeoutError, BlockingIOError):  # BlockingIOError: the kernel's timeout
            connection.close()
            raise self._no_answer(path, timeout) from None
        except (OSError, ValueError) as error:
            connection.close()
            raise self._answer_lost(method, path, error) from error
        if reusable:
            connection.answered_at = time.monotonic()
        else:
            connection.close()
        return Response(status, content_type, payload, self.url_of(path))

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
        return sock


class AsyncTransport(_Endpoint):
    """Kept-alive HTTP/1.1 requests to one base URL from asyncio code.

    A small client of its own rather than a dependency: a host answers with Content-Length
    (a proxy in front may chunk, which is read too). Idle connections are kept per event
    loop, since asyncio streams belong to the loop that opened them.
    """

    def __init__(self, base_url: str, extra_headers: Mapping[str, str] | None = None) -> None:
        super().__init__(base_url, extra_headers)
        # event loop -> ([(reader, writer, answered at)], the generator that closes them)
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
        import asyncio  # imported by async code already; a sync process should not pay ~25 ms

        idle = await self._idle_connections(asyncio.get_running_loop())
        streams: Streams | None = None
        while idle and streams is None:
            reader, writer, answered_at = idle.pop()
            # Closed by the host, or idle long enough that it is about to (see IDLE_REUSE_LIMIT).
            if reader.at_eof() or writer.is_closing() or time.monotonic() - answered_at > IDLE_REUSE_LIMIT:
                writer.close()
            else:
                streams = reader, writer
        if streams is None:
            streams = await self._open()
        reader, writer = streams
        body = body or b""
        try:
            writer.write(self._request_head(method, path, headers, len(body)) + body)
            status, content_type, payload, reusable = await asyncio.wait_for(_aread_response(reader), timeout)
        except asyncio.TimeoutError:
            writer.close()
            raise self._no_answer(path, timeout) from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            writer.close()
            raise self._answer_lost(method, path, error) from error
        if reusable:
            idle.append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return Response(status, content_type, payload, self.url_of(path))

    async def _idle_connections(self, loop: asyncio.AbstractEventLoop) -> list[IdleStreams]:
        """This loop's idle connections, closed when the loop shuts down."""
        if loop not in self._idle:
            # Loops closed without shutting down (no asyncio.run) leave theirs behind.
            for old_loop in [old for old in self._idle if old.is_closed()]:
                for _, writer, _ in self._idle.pop(old_loop)[0]:
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
            for _, writer, _ in idle:
                writer.close()

    async def _open(self) -> Streams:
        import asyncio

        if self.socket_path:
            opening = asyncio.open_unix_connection(self.socket_path)
        else:
            assert self._address is not None  # an http(s):// URL has one
            opening = asyncio.open_connection(*self._address, ssl=self._tls or None)
        try:
            return await asyncio.wait_for(opening, CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as error:
            reason = getattr(error, "strerror", None) or str(error) or error.__class__.__name__
            raise self._cannot_connect(reason) from error


async def _aread_response(reader: asyncio.StreamReader) -> tuple[int, str, bytes, bool]:
    """_read_response for asyncio streams."""
    import asyncio

    status = 100
    while 100 <= status < 200:  # an interim answer (100 Continue) before the real one
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            raise ConnectionResetError(
                "the connection closed " + ("inside the headers" if error.partial else "before the status line")
            ) from None
        status, headers = _parse_head(head[:-4])
    framing = _framing(status, headers)
    if framing == "none":
        body = b""
    elif framing == "length":
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif framing == "chunked":
        body = await _aread_chunked(reader)
    else:
        body = await reader.read()
    return _answer(status, headers, body, framed=framing != "close")


async def _aread_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while size := int((await reader.readline()).split(b";", 1)[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readline()  # the CRLF after each chunk
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # trailers
    return b"".join(chunks)


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


class _TimedReads:
    """The reads of one answer, each waiting only for what is left of the call's
    ``timeout``: FUNCTION_TIMEOUT bounds the whole call, so an answer that trickles in a
    byte at a time cannot stretch it. A small answer comes in the first read, which waits
    the socket's timeout as set (no system call to set it again) unless connecting or
    sending took a while.
    """

    __slots__ = ("_connection", "_deadline", "_sock", "_timeout")

    # Connecting and sending took longer than this: the first read, too, waits only for what
    # is left.
    SLOW_SEND = 0.005

    def __init__(self, connection: _Connection, sock: socket.socket, timeout: float, started: float) -> None:
        self._connection, self._sock, self._timeout = connection, sock, timeout
        self._deadline = started + timeout

    def first_recv(self, size: int) -> bytes:
        if self._deadline - time.monotonic() < self._timeout - self.SLOW_SEND:
            self._wait_at_most_what_is_left()
        return self._sock.recv(size)

    def recv(self, size: int) -> bytes:
        self._wait_at_most_what_is_left()
        return self._sock.recv(size)

    def recv_into(self, buffer: memoryview) -> int:
        self._wait_at_most_what_is_left()
        return self._sock.recv_into(buffer)

    def _wait_at_most_what_is_left(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self._connection.set_timeout(left)


class _Connection:
    """A thread's kept-alive socket, and what is known about it."""

    sock: socket.socket | None = None
    read_timeout: float | None = None  # the socket's timeout now, so it is set only when it changes
    answered_at = 0.0  # time.monotonic() of its last answer: how long it has been idle
    # Polls the socket for a close by the peer between requests; set (by Transport._open)
    # whenever sock is, and read only then.
    idle_poller: select.poll
    kernel_timeouts = False  # a blocking socket whose timeouts the kernel keeps

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

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __del__(self) -> None:
        # A connection lives in a thread-local: it goes when its thread or its Transport
        # does, and an unclosed socket would then raise ResourceWarning.
        self.close()


# Answers that never have a body, whatever their headers say (RFC 9110).
BODILESS_STATUSES = frozenset({204, 304})
# What one recv() asks for: a trivial answer whole. More is slower: CPython allocates the
# whole size first, and past glibc's mmap threshold (128 KB) that is an mmap and munmap per
# read (recv(256 KB) costs ~10 us, recv(64 KB) ~1 us). A longer body announced by its
# Content-Length is read into one buffer of its size (_read_rest).
RECV_SIZE = 64 * 1024


def _read_response(rest: _TimedReads) -> tuple[int, str, bytes, bool]:
    """(status, content type, body, reusable) of one HTTP/1.1 response on a blocking socket.

    Our own reader rather than http.client's: it parses the head with bytes.split, where
    http.client builds an email.message (about half of a trivial call's Python time).
    """
    status, headers, body = _read_head(rest, rest.first_recv(RECV_SIZE))
    while 100 <= status < 200:  # an interim answer (100 Continue) before the real one
        status, headers, body = _read_head(rest, body)
    framing = _framing(status, headers)
    framed = framing != "close"
    if framing == "none":
        body = b""
    elif framing == "length":
        length = int(headers[b"content-length"])
        if len(body) < length:
            body = _read_rest(rest, body, length)
        # More than announced: the peer does not frame its answers; use no more of it.
        framed = len(body) == length
        body = body if framed else body[:length]
    elif framing == "chunked":
        body = _read_chunked(rest, body)
    else:
        chunks = [body]
        while chunk := rest.recv(RECV_SIZE):
            chunks.append(chunk)
        body = b"".join(chunks)
    return _answer(status, headers, body, framed)


def _framing(status: int, headers: dict[bytes, bytes]) -> Framing:
    """How an answer's body ends: "none" (it has none), "length", "chunked" or "close"."""
    if status in BODILESS_STATUSES:
        return "none"
    if b"content-length" in headers:
        return "length"
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return "chunked"
    return "close"  # delimited by the peer closing the connection


def _answer(status: int, headers: dict[bytes, bytes], body: bytes, framed: bool) -> tuple[int, str, bytes, bool]:
    """(status, content type, body, reusable): what both readers return. A connection is
    reused only after an answer whose end it could tell, and whose peer keeps it open."""
    reusable = framed and headers.get(b"connection", b"").lower() != b"close"
    return status, headers.get(b"content-type", b"").decode("latin-1"), body, reusable


def _read_head(sock: _TimedReads, data: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """(status, headers, what came after them) of the answer whose start is ``data``."""
    end = data.find(b"\r\n\r\n")
    while end == -1:
        more = sock.recv(RECV_SIZE)
        if not more:
            raise ConnectionResetError(
                "the connection closed " + ("inside the headers" if data else "before the status line")
            )
        data += more
        end = data.find(b"\r\n\r\n")
    return (*_parse_head(data[:end]), data[end + 4 :])


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """(status, {lower-case name: value}) of a response's status line and headers."""
    status_line, *lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {status_line[:100]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if parts[0] == b"HTTP/1.0" and headers.get(b"connection", b"").lower() != b"keep-alive":
        headers[b"connection"] = b"close"  # HTTP/1.0 keeps a connection only when it says so
    return int(parts[1]), headers


def _read_rest(sock: _TimedReads, start: bytes, length: int) -> bytes:
    """The body of ``length`` bytes, of which ``start`` came with the headers."""
    body = bytearray(length)
    view = memoryview(body)
    view[: len(start)] = start
    received = len(start)
    while received < length:
        count = sock.recv_into(view[received:])
        if not count:
            raise ConnectionResetError(f"the connection closed after {received} of {length} body bytes")
        received += count
    return bytes(body)


def _read_chunked(sock: _TimedReads, data: bytes) -> bytes:
    """A chunked body; ``data`` is what came after the headers."""
    buffer = _Buffered(sock, data)
    chunks = []
    while size := int(buffer.line().split(b";", 1)[0], 16):
        chunks.append(buffer.exactly(size))
        buffer.line()  # the CRLF after each chunk
    while buffer.line():
        pass  # trailers
    return b"".join(chunks)


class _Buffered:
    """Lines and counted bytes from a socket, for chunked bodies (proxies may send them)."""

    def __init__(self, sock: _TimedReads, data: bytes) -> None:
        self.sock, self.data = sock, data

    def _more(self) -> None:
        more = self.sock.recv(RECV_SIZE)
        if not more:
            raise ConnectionResetError("the connection closed inside a chunked body")
        self.data += more

    def line(self) -> bytes:
        while (end := self.data.find(b"\r\n")) == -1:
            self._more()
        line, self.data = self.data[:end], self.data[end + 2 :]
        return line

    def exactly(self, count: int) -> bytes:
        while len(self.data) < count:
            self._more()
        taken, self.data = self.data[:count], self.data[count:]
        return taken


def _count_fork() -> None:
    global _forks_seen
    _forks_seen += 1


# Counted in the child at every fork, so a connection can tell it was inherited without
# asking the kernel for our pid on every call.
_forks_seen = 0
os.register_at_fork(after_in_child=_count_fork)
