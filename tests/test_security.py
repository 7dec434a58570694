"""Security, with real processes: hosts and the manager listen on loopback only, no path
evaluates code, request sizes are bounded, the manager's secret never leaves it in an
answer, and function names cannot smuggle anything into a request.

Read from the kernel, not from what the processes say: listening sockets come from
/proc/<pid>/fd and /proc/net/tcp{,6}.
"""

import http.client
import json
import os
import re
import socket
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from django_js_host import ConfigError, FunctionNotFound, JSHostError, UnexpectedResponse
from django_js_host.function import Function
from django_js_host.manager import SECRET_HEADER, JSHostManager

from .manager_fixtures import manager_port  # noqa: F401 (fixture)
from .test_faults import assert_serves, faults_host, faults_project, js_host, managed_faults, quiet_host  # noqa: F401

# --- who listens where, according to the kernel ----------------------------------------------


def _address(hex_address):
    """An address of /proc/net/tcp{,6} ("0100007F:1F90") as (ip, port)."""
    ip, port = hex_address.split(":")
    raw = bytes.fromhex(ip)
    words = b"".join(struct.pack("<I", struct.unpack(">I", raw[i : i + 4])[0]) for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words), int(port, 16)


def listening_sockets(pid):
    """The (ip, port) of every TCP socket that process ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(_address(fields[1]))
    return sorted(found)


def command_line_and_environment(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()


def test_a_host_listens_on_loopback_only_by_default_and_nowhere_else(tmp_path):
    with quiet_host(tmp_path) as host:  # its config sets no address
        assert host.status["config"]["address"] == "127.0.0.1"
        assert listening_sockets(host.pid) == [("127.0.0.1", host.port)]  # no inspector, no debug port
        assert b"--inspect" not in command_line_and_environment(host.pid)


def test_the_manager_and_its_hosts_listen_on_loopback_only(managed_faults, manager_port):
    host_pid = Function("pid").call_json()
    status = managed_faults.get_status()
    assert status["address"] == "127.0.0.1"
    assert listening_sockets(status["pid"]) == [("127.0.0.1", manager_port)]
    (host,) = status["hosts"]
    assert host["pid"] == host_pid
    assert listening_sockets(host_pid) == [("127.0.0.1", int(host["url"].rsplit(":", 1)[1]))]
    # The secret is read from its file: it is not in any process's argv or environment.
    secret = read_secret(managed_faults)
    for pid in (status["pid"], host_pid):
        assert secret.encode() not in command_line_and_environment(pid)
        assert b"--inspect" not in command_line_and_environment(pid)


def test_a_manager_address_that_is_not_loopback_is_refused_before_anything_starts(settings, manager_port):
    with pytest.raises(ConfigError, match=r"MANAGER_ADDRESS'\] must be a loopback address"):
        settings.JS_HOST = {"USE_MANAGER": True, "MANAGER_ADDRESS": "0.0.0.0", "MANAGER_PORT": manager_port}
        Function("hello_world").call()
    assert not JSHostManager(address="127.0.0.1", port=manager_port).is_running()


# --- no endpoint evaluates code --------------------------------------------------------------

CODE_PATHS = [
    "/eval", "/exec", "/run", "/execute", "/script", "/repl", "/debug", "/inspect", "/json", "/json/list",
    "/json/version", "/function", "/function/", "/function/eval", "/function/Function", "/function/require",
    "/function/process", "/function/global", "/function/globalThis", "/function/module", "/function/exports",
    "/function/constructor", "/function/__proto__", "/function/prototype", "/function/toString",
    "/function/hasOwnProperty", "/function/valueOf", "/function/__defineGetter__", "/function/__lookupGetter__",
    "/function/isPrototypeOf", "/function/propertyIsEnumerable", "/function/toLocaleString", "/function/call",
    "/function/apply", "/function/bind", "/function/functions", "/function/host", "/function/config",
    "/function/hello_world/eval", "/function/..%2Feval", "/batch/constructor", "/batch/__proto__",
    "/batch/toString", "/status/eval", "/manager/eval", "/manager/exec", "/host/eval", "/host/exec",
    "/host/run", "/__proto__", "/constructor",
]  # fmt: skip


def code_that_writes(marker):
    """A body a code-evaluating endpoint would run, leaving ``marker`` behind."""
    source = f"require('fs').writeFileSync({json.dumps(str(marker))}, 'evaluated')"
    return json.dumps(
        {"code": source, "source": source, "script": source, "expression": source, "js": source, "args": [source]}
    ).encode()


def raw_request(port, method, path, body=b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body, headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def test_no_path_of_a_host_evaluates_code(faults_host, tmp_path):
    marker = tmp_path / "evaluated"
    for path in CODE_PATHS:
        for method in ("GET", "POST", "PUT"):
            status, _, _ = raw_request(faults_host.port, method, path, code_that_writes(marker))
            assert status in (400, 404, 405), (method, path, status)
    assert not marker.exists()
    assert_serves(faults_host)


@pytest.mark.parametrize(
    "name", ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "eval", "require"]
)
def test_no_function_name_reaches_javascript_builtins(faults_host, name):
    with pytest.raises(FunctionNotFound, match=f'Unknown function "{name}"'):
        Function(name, host=js_host(faults_host.config_file)).call(code="process.exit(7)")
    assert_serves(faults_host)


def test_no_path_of_the_manager_evaluates_code_even_with_its_secret(managed_faults, tmp_path):
    managed_faults.ensure_running()
    secret = {SECRET_HEADER: read_secret(managed_faults)}
    marker = tmp_path / "evaluated"
    for path in CODE_PATHS:
        for method in ("GET", "POST"):
            status, _, _ = raw_request(managed_faults.port, method, path, code_that_writes(marker), secret)
            assert status in (400, 404, 405), (method, path, status)
    assert not marker.exists()
    assert managed_faults.get_status()["hosts"] == []  # nothing was started either


# --- request sizes are bounded ---------------------------------------------------------------

LIMIT = 64 * 1024


def test_a_call_over_the_hosts_request_limit_is_413_and_the_host_serves_on(tmp_path):
    with quiet_host(tmp_path, requestDataLimit=LIMIT) as host:
        echo_text = Function("echo_text", host=js_host(host.config_file))
        frame = len('{"text": ""}')
        assert echo_text.call(text="x" * (LIMIT - frame)) == "x" * (LIMIT - frame)  # exactly the limit
        with pytest.raises(UnexpectedResponse, match=f"answered 413: .*requestDataLimit of {LIMIT} bytes") as caught:
            echo_text.call(text="x" * (LIMIT - frame + 1))
        assert caught.value.status == 413
        assert_serves(host)
        assert echo_text.call(text="after") == "after"  # on the connection the 413 closed, reopened


BIG_HEADER = {"X-Big": "a" * 20_000}


def test_headers_over_16_kb_are_refused_by_the_host(faults_host):
    assert raw_request(faults_host.port, "POST", "/function/echo", b"{}", BIG_HEADER)[0] == 431
    assert_serves(faults_host)


def test_headers_over_16_kb_are_refused_by_the_manager(managed_faults):
    managed_faults.ensure_running()
    assert (
        raw_request(
            managed_faults.port, "GET", "/status", b"", {**BIG_HEADER, SECRET_HEADER: read_secret(managed_faults)}
        )[0]
        == 431
    )
    assert managed_faults.is_running()


def test_a_manager_request_over_64_kb_is_413(managed_faults):
    managed_faults.ensure_running()
    body = json.dumps({"config": "/x" * LIMIT}).encode()
    status, _, answer = raw_request(
        managed_faults.port, "POST", "/host/status", body, {SECRET_HEADER: read_secret(managed_faults)}
    )
    assert status == 413
    assert json.loads(answer)["name"] == "RequestTooLarge"
    assert managed_faults.is_running()


# --- the manager's secret stays in its file --------------------------------------------------


def read_secret(manager):
    return Path(manager.directory, "manager.secret").read_text().strip()


def test_no_answer_of_the_manager_carries_its_secret(managed_faults, faults_project, tmp_path):
    began = time.time() - 1
    managed_faults.ensure_running()
    secret = read_secret(managed_faults)
    port = managed_faults.port
    (faults_project / "broken.config.js").write_text("module.exports = {functions: {a() {}}\n")
    ours = {SECRET_HEADER: secret}
    answers = []
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: secret[:-1]}, {SECRET_HEADER: secret + "x"}):
        answers.append(raw_request(port, "GET", "/status", b"", headers))  # 403
        answers.append(
            raw_request(
                port,
                "POST",
                "/host/start",
                json.dumps({"config": str(faults_project / "host.config.js")}).encode(),
                headers,
            )
        )
    answers += [
        raw_request(port, "GET", "/no/such/path", b"", ours),  # 404
        raw_request(port, "GET", "/host/start", b"", ours),  # 405
        raw_request(port, "POST", "/host/status", b"{not json", ours),  # 400
        raw_request(port, "POST", "/host/status", b"[1]", ours),  # 400
        raw_request(port, "POST", "/host/status", b"{}", ours),  # 400, no config
        raw_request(port, "POST", "/host/status", b'{"config": "relative.js"}', ours),  # 400
        raw_request(
            port, "POST", "/host/status", json.dumps({"config": str(tmp_path / "missing.js")}).encode(), ours
        ),  # 400
        raw_request(
            port, "POST", "/host/stop", json.dumps({"config": str(faults_project / "host.config.js")}).encode(), ours
        ),  # 404
        raw_request(port, "POST", "/host/status", json.dumps({"config": "/x" * LIMIT}).encode(), ours),  # 413
        raw_request(
            port, "POST", "/host/start", json.dumps({"config": str(faults_project / "broken.config.js")}).encode(), ours
        ),  # 500
        raw_request(port, "GET", "/status", b"", ours),  # 200
    ]
    statuses = sorted({status for status, _, _ in answers})
    assert statuses == [200, 400, 403, 404, 405, 413, 500]
    for status, headers, body in answers:
        assert secret not in body.decode("utf-8", "replace"), status
        assert secret not in json.dumps(headers), status
    # Nor do the errors Python raises about the manager, or the logfiles.
    errors = []
    for call in (
        lambda: Function("a", host=_host(faults_project / "broken.config.js")).call(),
        lambda: managed_faults.host_status(str(tmp_path / "missing.js")),
        lambda: managed_faults.stop_host(str(faults_project / "host.config.js")),
    ):
        with pytest.raises(JSHostError) as caught:
            call()
        errors.append(str(caught.value))
    assert not [error for error in errors if secret in error]
    logs = [log for log in Path(managed_faults.directory).glob("*.log") if log.stat().st_mtime >= began]
    assert Path(managed_faults.logfile) in logs
    for log in logs:  # written during this test: the manager's, and its hosts'
        assert secret not in log.read_text(errors="replace"), log


def _host(config_file):
    from django_js_host.host import JSHost

    return JSHost(config_file)


# --- function names cannot smuggle anything into a request -----------------------------------


@contextmanager
def capturing_server():
    """A loopback server that passes for a JS host and records every request head it gets."""
    heads = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    connections = []

    def serve(connection):
        connections.append(connection)
        buffer = b""
        with connection:
            connection.settimeout(5)
            while not stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    try:
                        chunk = connection.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                heads.append(head)
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                buffer = buffer[int(length.group(1)) if length else 0 :]
                if head.startswith(b"GET /status "):
                    answer = b'{"type": "Host", "config": {}}'
                    status = b"200 OK"
                else:
                    answer = b'{"name": "UnknownFunction", "message": "recorded"}'
                    status = b"404 Not Found"
                connection.sendall(
                    b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (status, len(answer), answer)
                )

    def accept():
        workers = []
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            worker = threading.Thread(target=serve, args=(connection,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(10)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", heads
    finally:
        stop.set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # wakes its thread up
            except OSError:
                pass
        thread.join(15)
        listener.close()


@pytest.fixture
def recorded(settings):
    """ROOT_URL pointed at a capturing_server; yields the list of request heads it received."""
    with capturing_server() as (url, heads):
        settings.JS_HOST = {"ROOT_URL": url, "CONNECT_ONCE_CONFIGURED": False, "VERBOSITY": "SILENT"}
        yield heads


def function_heads(heads):
    return [head for head in heads if not head.startswith(b"GET /status ")]


def test_the_capturing_server_sees_a_plain_call_as_sent(recorded):
    with pytest.raises(FunctionNotFound, match="recorded"):
        Function("hello_world").call(name="x")
    (head,) = function_heads(recorded)
    assert head.startswith(b"POST /function/hello_world?hash=")


def test_a_function_name_with_cr_lf_cannot_add_a_header(recorded):
    try:
        Function("hello_world\r\nX-Injected: 1").call()
    except (ValueError, JSHostError):
        pass  # refused: fine, as long as nothing went out as a header
    assert not [head for head in recorded if b"\r\nX-Injected: 1" in head]


@pytest.mark.parametrize("name", ["echo?x=1", "echo#x"])
def test_a_function_name_with_a_query_or_fragment_never_calls_another_function(recorded, name):
    try:
        Function(name).call()
    except (ValueError, JSHostError):
        pass
    for head in function_heads(recorded):
        target = head.split(b" ")[1].decode("latin-1")
        # Sent at all, the whole name must be the path segment (escaped), not a shorter one.
        assert target.split("?", 1)[0] == "/function/" + quote(name, safe=""), target
