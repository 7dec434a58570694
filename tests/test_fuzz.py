"""Bad input at the host's HTTP endpoint: property-based fuzzing with hypothesis, raw cases
that a client library would never send, and bad function names from Python.

The fuzzer sends random requests (method, target, query, headers, framing, body) to one
real host over raw sockets, and predicts each answer from the protocol alone (README.rst,
"Wire protocol"): the status a host gives a request it can read, and "anything but 200"
for every request that is not a valid call. Properties: the host process never dies,
never answers 200 unless the request was a valid call of an existing function (or GET
/status), answers every request it can read with exactly the predicted status, and the
next valid call still works. Examples are derandomized, so CI sees the same 300 requests
on every run.
"""

import hashlib
import http.client
import io
import json
import re
import socket
import string
import time
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from django_js_host import FunctionNotFound
from django_js_host.function import Function

from .support.hosts import FIXTURES
from .support.processes import alive, wait_until
from .test_faults import assert_serves, js_host, quiet_host

LIMIT = 4096  # the fuzzed host's requestDataLimit: small, so 413 is reached too
FUZZ_CONFIG = FIXTURES / "fuzz.config.js"
# Every function of fuzz.config.js (each answers at once, whatever its arguments) and the
# status of a valid call of it; other names are 404.
FUNCTIONS = {"echo": 200, "hello_world": 200, "pid": 200, "mark": 200, "sync_throw": 500, "rejects": 500}
CALLABLE_NAME = re.compile(r"[A-Za-z0-9_$.-]+")
READ_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def fuzzed_host(tmp_path_factory):
    with quiet_host(tmp_path_factory.mktemp("fuzz"), functions_from=FUZZ_CONFIG, requestDataLimit=LIMIT) as host:
        yield host


# --- talking raw HTTP ------------------------------------------------------------------------


def exchange(port, data, timeout=READ_TIMEOUT):
    """Send ``data`` on a new connection, half-close it, and read until the host closes.

    Returns the bytes received; raises socket.timeout if the host neither answers nor closes.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the host may close early (a header it refused): read what it said
        received = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received.append(chunk)
    return b"".join(received)


class _Unclosable(io.BytesIO):
    def close(self):
        pass  # HTTPResponse closes its file after a "Connection: close" answer


class _Replay:
    """What http.client.HTTPResponse needs of a socket, over bytes already received."""

    def __init__(self, data):
        self.fp = _Unclosable(data)

    def makefile(self, mode):
        return self.fp


def parse_responses(data, method):
    """The (status, headers, body) of each HTTP response in ``data``, in order."""
    replay = _Replay(data)
    responses = []
    while replay.fp.tell() < len(data):
        response = http.client.HTTPResponse(replay, method=method)
        response.begin()  # skips a 100 Continue
        responses.append((response.status, dict(response.getheaders()), response.read()))
    return responses


def valid_call_status(port):
    """The status of one valid call on a new connection (the host still serves)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=READ_TIMEOUT)
    try:
        connection.request("POST", "/function/echo", b'{"still": "serving"}', {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- what the protocol says a request gets -------------------------------------------------


def hash_parameter(query):
    """The host's reading of the `hash` query parameter (host.js hashParameter)."""
    if query == "":
        return None
    if query.startswith("hash=") and not re.search(r"[&%+]", query):
        return query[5:]
    for key, value in parse_qsl(query, keep_blank_values=True):  # as URLSearchParams
        if key == "hash":
            return value
    return None


def decode_arguments(body):
    """The JSON value of a body as the host reads it, or raises ValueError."""
    if body == b"":
        return {}
    text = body.decode("utf-8")  # strict, like TextDecoder({fatal: true})
    if text.startswith("\ufeff"):
        text = text[1:]  # TextDecoder drops one byte order mark

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")  # Python accepts NaN and Infinity; JSON.parse does not

    return json.loads(text, parse_constant=no_constants)


def expected_status(method, target, body):
    """The status the host answers a request it could read, from the protocol alone."""
    url = target.decode("latin-1")
    path, _, query = url.partition("?")
    # A stream call of a function whose output is no stream is answered as a call.
    for prefix, batch in (("/function/", False), ("/batch/", True), ("/stream/", False)):
        if not path.startswith(prefix):
            continue
        name = path[len(prefix) :]
        if method != "POST":
            return 405
        if not CALLABLE_NAME.fullmatch(name) or name in (".", ".."):
            return 400
        if name not in FUNCTIONS:
            return 404
        if len(body) > LIMIT:
            return 413
        digest = hash_parameter(query)
        if digest is not None and digest.lower() != hashlib.sha1(body).hexdigest():
            return 400
        try:
            data = decode_arguments(body)
        except (ValueError, RecursionError):
            return 400
        if not batch:
            return FUNCTIONS[name] if isinstance(data, dict) else 400
        if not (isinstance(data, list) and all(isinstance(item, dict) for item in data)):
            return 400
        return 200 if FUNCTIONS[name] == 200 or not data else 500
    if path == "/status":
        return 200 if method == "GET" else 405
    return 404


# --- random requests -------------------------------------------------------------------------

TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
# Characters a request target may hold without any parser objecting (RFC 3986 pchar & co).
SAFE_TARGET = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%"
NAMES = [*FUNCTIONS, "never_calls_back", "nope", "constructor", "__proto__", "toString",
         "hasOwnProperty", "..", ".", "", "%2F", "a/b", "echo/", "/echo", "hello%5Fworld", "ECHO", "echo.",
         "$"]  # fmt: skip
# Headers the generator sets itself: framing, and what the host's guard against browsers
# reads (guard.test.js tries those).
SET_HEADERS = {"content-length", "transfer-encoding", "host", "expect", "connection", "upgrade",
               "content-type", "origin", "sec-fetch-site", "x-js-host-token"}  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def sometimes(draw, one_in):
    """True about once in ``one_in`` draws (hypothesis would pick 0 of integers(0, n) far more often)."""
    return draw(st.sampled_from([True] + [False] * (one_in - 1)))


def weighted(**weights):
    """A strategy for the keys, each drawn about as often as its weight says."""
    return st.sampled_from([key for key, weight in weights.items() for _ in range(weight)])


@st.composite
def bodies(draw):
    kind = draw(weighted(object=12, value=2, bytes=2, text=1, broken=2, empty=2, big=1, bom=1, bad_utf8=1, batch=3))
    if kind == "object":
        value = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
        return json.dumps(value, ensure_ascii=draw(st.booleans())).encode()
    if kind == "value":
        return json.dumps(draw(json_values)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=100)).encode("utf-8", "surrogatepass")
    if kind == "broken":
        text = json.dumps(draw(st.dictionaries(st.text(max_size=5), json_values, min_size=1, max_size=3))).encode()
        cut = draw(st.integers(0, len(text) - 1))
        return text[:cut] + draw(st.binary(max_size=3))
    if kind == "big":
        return b'{"text": "' + b"x" * draw(st.integers(LIMIT - 20, LIMIT + 50)) + b'"}'
    if kind == "bom":
        return (
            b"\xef\xbb\xbf" + json.dumps(draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))).encode()
        )
    if kind == "bad_utf8":
        return (
            b'{"text": "'
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"]))
            + b'"}'
        )
    if kind == "batch":
        return json.dumps(
            draw(st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=2) | json_values, max_size=3))
        ).encode()
    return b""


@st.composite
def requests(draw):
    """(bytes to send, method, target, body, whether every part is plain HTTP/1.x)."""
    plain = True
    method = draw(weighted(POST=30, GET=3, PUT=1, DELETE=1, HEAD=2, OPTIONS=1, PATCH=1))
    if sometimes(draw, 20):
        method = draw(st.sampled_from(["post", "P0ST", "CONNECT", "", "POST POST", "\x00"]))
        plain = False
    body = draw(bodies())
    place = draw(weighted(function=6, batch=2, stream=1, status=1, other=1))
    if place in ("function", "batch", "stream"):
        kind = draw(weighted(known=6, listed=3, random=1))
        if kind == "known":
            name = draw(st.sampled_from(sorted(FUNCTIONS)))
        elif kind == "listed":
            name = draw(st.sampled_from(NAMES))
        else:
            name = draw(st.text(SAFE_TARGET.replace("?", ""), max_size=12))
        path = f"/{place}/{name}"
    elif place == "status":
        path = "/status"
    else:
        path = "/" + draw(st.text(SAFE_TARGET.replace("?", ""), max_size=20))
    digest = hashlib.sha1(body).hexdigest()
    query = draw(
        st.sampled_from(["", "", "", f"hash={digest}", f"hash={digest}", f"hash={digest}", f"hash={digest.upper()}",
                         f"x=1&hash={digest}", "hash=0", "hash=", f"hash={digest}&hash=0", f"hash=%{digest}",
                         f"hash={digest}+", "x=%26&y=+", None])
    )  # fmt: skip
    if query is None:
        query = draw(st.text(SAFE_TARGET, max_size=20))
    target = path + (f"?{query}" if query else "")
    if sometimes(draw, 20):  # a character a parser may refuse in a target
        at = draw(st.integers(0, len(target)))
        target = (
            target[:at]
            + draw(st.sampled_from([" ", "\t", "\x00", "\x7f", "é", '"', "<", "#", "\\", "^", "{"]))
            + target[at:]
        )
        plain = False
    version = "HTTP/1.1"
    if sometimes(draw, 10):
        version = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.0", "HTTP/2.0", "HTTP/1.9", "HTTP/1", "http/1.1", "FOO"]))
        plain = plain and version == "HTTP/1.0"
    headers = []
    if version in ("HTTP/1.1", "HTTP/1.0") and not sometimes(draw, 30):
        headers.append(("Host", "127.0.0.1"))
    else:
        plain = False  # without Host: refused by node (HTTP/1.1) or by the host's guard (421)
    if method == "POST":
        headers.append(("Content-Type", "application/json"))  # as Python sends; else 415
    names = st.text(TOKEN, min_size=1, max_size=12).filter(lambda name: name.lower() not in SET_HEADERS)
    values = st.text(string.ascii_letters + string.digits + " -_.,;:=/()\"'", max_size=30)
    headers += draw(st.lists(st.tuples(names, values), max_size=6))
    if sometimes(draw, 20):  # a header line no parser should accept
        headers.append(
            draw(st.sampled_from([("Bad Name", "x"), ("X", "a\x00b"), ("X", "a\rb"), ("", "x"), ("X\x7f", "y")]))
        )
        plain = False
    framing = draw(weighted(length=6, chunked=3, none=1))
    if framing == "none":
        body = b""
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
        payload = body
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        sizes = draw(st.lists(st.integers(1, 64), max_size=8))
        chunks, rest = [], body
        for size in sizes:
            if rest:
                chunks.append(rest[:size])
                rest = rest[size:]
        if rest:
            chunks.append(rest)
        payload = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
        plain = plain and version == "HTTP/1.1"
    else:
        payload = b""
    head = f"{method} {target} {version}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1", "replace") + payload, method, target.encode("latin-1", "replace"), body, plain


@settings(
    max_examples=500,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(request=requests())
def test_fuzzed_requests_never_crash_the_host_and_only_valid_calls_get_200(fuzzed_host, request):
    data, method, target, body, plain = request
    expected = expected_status(method, target, body)
    received = exchange(fuzzed_host.port, data)
    responses = parse_responses(received, method)
    statuses = [status for status, _, _ in responses]
    event(f"{'plain' if plain else 'odd'} request, expected {expected}, answered {statuses}")
    if plain:
        # A request any HTTP/1.x parser reads: exactly the answer the protocol gives it.
        assert statuses == [expected], (data[:300], received[:300])
        _, headers, answer = responses[0]
        assert "Transfer-Encoding" not in headers  # never chunked, always sized
        if method != "HEAD":  # (a HEAD answer has the headers only)
            assert int(headers["Content-Length"]) == len(answer)
            if expected != 200:
                assert json.loads(answer)["name"]  # a JSON {name, message} saying why
    elif 200 in (expected, expected_status(method, target.strip(b" \t"), body)):
        # A parser may refuse the odd part (a bare 400, 505, or a closed connection), or
        # read past it (node's skips a space or tab before the target): then the valid call
        # gets its answer.
        assert all(status != 200 for status in statuses) or statuses == [200], (data[:300], received[:300])
    else:
        assert 200 not in statuses, (data[:300], received[:300])
    assert alive(fuzzed_host.pid)
    assert valid_call_status(fuzzed_host.port) == (200, b'{"still":"serving"}')


def test_the_fuzzed_host_never_logged_a_fatal_error(fuzzed_host):
    # Runs after the fuzzer (file order): the same process served every example.
    assert fuzzed_host.process.poll() is None
    assert "fatal" not in fuzzed_host.stderr
    assert fuzzed_host.status["pid"] == fuzzed_host.pid


# --- raw cases a client library never sends --------------------------------------------------


def head(method, target, *headers):
    if method == "POST":
        headers = ("Content-Type: application/json", *headers)  # as Python sends; else 415
    return (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n"
    ).encode()


def test_a_truncated_body_holds_only_its_own_connection_and_never_runs_the_call(fuzzed_host, tmp_path):
    marker = tmp_path / "fuzz-marker-truncated"
    body = json.dumps({"marker": str(marker)}).encode()
    stuck = socket.create_connection(("127.0.0.1", fuzzed_host.port), timeout=5)
    try:
        stuck.sendall(head("POST", "/function/mark", f"Content-Length: {len(body) + 100}") + body)
        # Other connections are served meanwhile, at once.
        for _ in range(20):
            started = time.monotonic()
            assert valid_call_status(fuzzed_host.port)[0] == 200
            assert time.monotonic() - started < 5
    finally:
        stuck.close()
    assert valid_call_status(fuzzed_host.port)[0] == 200
    assert not marker.exists()  # a body that never came whole is never a call
    # The same, with the client half-closing: the host gives up on it (a bare 400).
    received = exchange(fuzzed_host.port, head("POST", "/function/mark", f"Content-Length: {len(body) + 100}") + body)
    assert 200 not in [status for status, _, _ in parse_responses(received, "POST")]
    assert not marker.exists()
    # The same call sent whole does run: the marker is a fair witness.
    received = exchange(fuzzed_host.port, head("POST", "/function/mark", f"Content-Length: {len(body)}") + body)
    assert [status for status, _, _ in parse_responses(received, "POST")] == [200]
    assert marker.exists()
    assert_serves(fuzzed_host)


def test_many_idle_half_sent_requests_do_not_starve_a_valid_call(fuzzed_host):
    idle = []
    try:
        for n in range(200):
            sock = socket.create_connection(("127.0.0.1", fuzzed_host.port), timeout=5)
            sock.sendall(b"POST /function/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + str(n).encode())
            idle.append(sock)
        started = time.monotonic()
        assert valid_call_status(fuzzed_host.port)[0] == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in idle:
            sock.close()
    assert_serves(fuzzed_host)


def test_chunked_bodies_are_read_whole_and_broken_chunking_is_refused(fuzzed_host):
    body = b'{"id": "chunked \xe2\x9c\x93"}'
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece) for piece in (body[:5], body[5:6], body[6:]))
    received = exchange(
        fuzzed_host.port, head("POST", "/function/echo", "Transfer-Encoding: chunked") + chunks + b"0\r\n\r\n"
    )
    assert [(status, json.loads(answer)) for status, _, answer in parse_responses(received, "POST")] == [
        (200, {"id": "chunked ✓"})
    ]
    for broken in [
        b"zz\r\n{}\r\n0\r\n\r\n",
        b"2\r\n{}0\r\n\r\n",
        b"-2\r\n{}\r\n0\r\n\r\n",
        b"ffffffffffffffffff\r\n{}",
    ]:
        received = exchange(fuzzed_host.port, head("POST", "/function/echo", "Transfer-Encoding: chunked") + broken)
        assert [status for status, _, _ in parse_responses(received, "POST")] == [400], broken
    # Both framings at once is how requests get smuggled past proxies: refused.
    both = head("POST", "/function/echo", "Content-Length: 2", "Transfer-Encoding: chunked") + b"2\r\n{}\r\n0\r\n\r\n"
    assert [status for status, _, _ in parse_responses(exchange(fuzzed_host.port, both), "POST")] == [400]
    for length in ["-1", "abc", "2, 3", "1e3"]:
        received = exchange(fuzzed_host.port, head("POST", "/function/echo", f"Content-Length: {length}") + b"{}")
        assert [status for status, _, _ in parse_responses(received, "POST")] == [400], length
    assert_serves(fuzzed_host)


def test_huge_headers_are_refused_with_431_and_the_host_serves_on(fuzzed_host):
    for headers in [[f"X-Big: {'a' * 20_000}"], [f"X-Many-{n}: {'b' * 100}" for n in range(300)]]:
        received = exchange(fuzzed_host.port, head("POST", "/function/echo", "Content-Length: 2", *headers) + b"{}")
        assert [status for status, _, _ in parse_responses(received, "POST")] == [431]
    received = exchange(fuzzed_host.port, head("GET", "/status" + "x" * 20_000))
    assert [status for status, _, _ in parse_responses(received, "GET")] == [431]
    assert_serves(fuzzed_host)


def test_a_body_that_is_not_utf_8_is_400_invalid_json(fuzzed_host):
    for body in [b'{"text": "\xff"}', b'{"text": "\xed\xa0\x80"}', b'{"text": "\xc0\xaf"}', b"\xfe\xff\x00{\x00}"]:
        received = exchange(fuzzed_host.port, head("POST", "/function/echo", f"Content-Length: {len(body)}") + body)
        ((status, _, answer),) = parse_responses(received, "POST")
        assert status == 400
        assert json.loads(answer) == {"name": "InvalidJSON", "message": json.loads(answer)["message"]}
        assert "not valid UTF-8 JSON" in json.loads(answer)["message"]
    assert_serves(fuzzed_host)


def test_pipelined_requests_are_answered_in_order_each_with_its_own_answer(fuzzed_host):
    bodies = [json.dumps({"id": n}).encode() for n in range(50)]
    data = b"".join(head("POST", "/function/echo", f"Content-Length: {len(body)}") + body for body in bodies)
    responses = parse_responses(exchange(fuzzed_host.port, data), "POST")
    assert [(status, json.loads(answer)) for status, _, answer in responses] == [(200, {"id": n}) for n in range(50)]


# --- bad function names from Python ----------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b", "..", ".", "%2F", "/echo", "../status", "echo/", "hello%5Fworld", ""])
def test_a_function_name_with_a_slash_dots_or_an_escape_is_refused_with_400(fuzzed_host, name):
    # Python refuses it before anything is sent ...
    with pytest.raises(ValueError, match=r"A function name must match \^\[A-Za-z0-9_\$\.-\]\+\$"):
        Function(name, host=js_host(fuzzed_host.config_file))
    # ... and the host, sent it anyway, answers 400 and serves on.
    request = head("POST", f"/function/{name}", "Content-Length: 2") + b"{}"
    (response,) = parse_responses(exchange(fuzzed_host.port, request), "POST")
    status, _, body = response
    assert status == 400 and b"InvalidFunctionName" in body
    assert_serves(fuzzed_host)


@pytest.mark.parametrize("name", ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"])
def test_object_prototype_names_are_not_functions(fuzzed_host, name):
    with pytest.raises(FunctionNotFound, match=f'Unknown function "{name}"'):
        Function(name, host=js_host(fuzzed_host.config_file)).call()
    assert_serves(fuzzed_host)


def test_the_host_still_serves_after_the_raw_cases(fuzzed_host):
    assert wait_until(lambda: alive(fuzzed_host.pid))
    assert_serves(fuzzed_host)
    assert "fatal" not in fuzzed_host.stderr
