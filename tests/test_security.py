"""Security, with real processes: in development nothing listens on TCP (the manager and
its hosts are on Unix sockets in a private directory that no other user can enter), hosts
listen on loopback only by default, no path evaluates code, request sizes are bounded, and
function names cannot smuggle anything into a request.

Read from the kernel, not from what the processes say: listening sockets come from
/proc/<pid>/fd and /proc/net/{tcp,tcp6,unix}.
"""

import http.client
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from django_js_host import (
    ConfigError,
    FunctionNotFound,
    JSHostError,
    UnexpectedResponse,
)
from django_js_host.function import Function
from django_js_host.links.manager import JSHostManager

from .support.managers import runtime_dir  # noqa: F401 (fixture)
from .test_faults import (  # noqa: F401
    assert_serves,
    faults_host,
    faults_project,
    js_host,
    managed_faults,
    python_process,
    quiet_host,
)

# --- who listens where, according to the kernel ----------------------------------------------


def _address(hex_address):
    """An address of /proc/net/tcp{,6} ("0100007F:1F90") as (ip, port)."""
    ip, port = hex_address.split(":")
    raw = bytes.fromhex(ip)
    words = b"".join(struct.pack("<I", struct.unpack(">I", raw[i : i + 4])[0]) for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, words), int(port, 16)


def _socket_inodes(pid):
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_sockets(pid):
    """The (ip, port) of every TCP socket that process ``pid`` listens on."""
    inodes = _socket_inodes(pid)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(_address(fields[1]))
    return sorted(found)


def listening_unix_sockets(pid):
    """The paths of every Unix socket that process ``pid`` listens on."""
    inodes = _socket_inodes(pid)
    found = []
    for row in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = row.split()
        # Flags 00010000: __SO_ACCEPTCON, a listening socket.
        if len(fields) == 8 and fields[6] in inodes and fields[3] == "00010000":
            found.append(fields[7])
    return sorted(found)


def command_line_and_environment(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()


def test_a_host_listens_on_loopback_only_by_default_and_nowhere_else(tmp_path):
    with quiet_host(tmp_path) as host:  # its config sets no address
        assert host.status["config"]["address"] == "127.0.0.1"
        assert listening_sockets(host.pid) == [("127.0.0.1", host.port)]  # no inspector, no debug port
        assert b"--inspect" not in command_line_and_environment(host.pid)


def test_the_manager_and_its_hosts_listen_on_no_tcp_port_only_on_private_sockets(managed_faults):
    host_pid = Function("pid").call_json()
    status = managed_faults.get_status()
    directory = managed_faults.directory
    assert status["socket"] == os.path.join(directory, "manager.sock")
    (host,) = status["hosts"]
    assert host["pid"] == host_pid
    assert listening_sockets(status["pid"]) == listening_sockets(host_pid) == []
    assert listening_unix_sockets(status["pid"]) == [status["socket"]]
    assert listening_unix_sockets(host_pid) == [host["socket"]]
    assert os.path.dirname(host["socket"]) == directory
    assert os.stat(directory).st_mode & 0o777 == 0o700
    for path in (status["socket"], host["socket"]):
        assert os.stat(path).st_mode & 0o777 == 0o600
    for pid in (status["pid"], host_pid):
        assert b"--inspect" not in command_line_and_environment(pid)


@pytest.mark.parametrize("name", ["MANAGER_ADDRESS", "MANAGER_PORT"])
def test_the_manager_tcp_settings_are_gone_and_say_what_replaced_them(settings, name):
    replaced = "the manager listens on a Unix socket"
    with pytest.raises(ConfigError, match=rf"JS_HOST\['{name}'\] is no longer a setting: {replaced}"):
        settings.JS_HOST = {"USE_MANAGER": True, name: 9009}
        Function("hello_world").call()


# The port the manager listened on before it moved to a Unix socket: a listener of another
# user's there was sent the manager's secret, and answered as the manager.
OLD_MANAGER_PORT = 9009


@contextmanager
def counting_listener(address):
    """A listener on ``(host, OLD_MANAGER_PORT)`` that counts the connections it gets; [::]
    is dual-stack, so it is also reached at 127.0.0.1 (what a check of /proc/net/tcp missed)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family)
    if family == socket.AF_INET6:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        listener.bind((address, OLD_MANAGER_PORT))
    except OSError as error:
        listener.close()
        pytest.skip(f"cannot listen on [{address}]:{OLD_MANAGER_PORT} here: {error}")
    listener.listen(16)
    listener.settimeout(0.05)
    accepted = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield accepted
    finally:
        stop.set()
        thread.join()
        for sock in accepted:
            sock.close()
        listener.close()


@pytest.mark.parametrize("address", ["::", "127.0.0.1"])
def test_a_listener_on_the_old_manager_port_receives_nothing_during_managed_calls(faults_project, runtime_dir, address):
    code = "from django_js_host.function import Function\nprint(Function('hello_world').call(name='x'))\n"
    with counting_listener(address) as accepted:
        process = python_process(code, faults_project, runtime_dir)  # starts the manager and a host
        out, err = process.communicate(timeout=60)
        JSHostManager(runtime_dir=runtime_dir).stop()
    assert process.returncode == 0, err
    assert out == "Hello, x!\n"
    assert accepted == []


CAN_SWITCH_USER = os.getuid() == 0 and shutil.which("setpriv") is not None


@pytest.mark.skipif(not CAN_SWITCH_USER, reason="needs root and setpriv, to run a client as another user")
def test_another_user_cannot_connect_to_the_manager_or_a_managed_host(managed_faults):
    Function("pid").call_json()
    status = managed_faults.get_status()
    # The client is node, not sys.executable: another user may not be able to run this
    # Python (pyenv's, under root's home, loads its libpython and stdlib from there).
    probe = (
        "const net = require('net');\n"
        "(async () => { for (const path of process.argv.slice(1)) console.log(await new Promise((done) =>\n"
        "  net.connect(path).on('connect', function () { this.destroy(); done('connected'); })\n"
        "    .on('error', (error) => done(error.code)))); })();\n"
    )
    paths = [status["socket"], status["hosts"][0]["socket"]]
    finished = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", shutil.which("node"), "-e", probe, *paths],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert finished.stdout.split() == ["EACCES", "EACCES"], finished.stderr


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


def raw_request(where, method, path, body=b"", headers=None):
    """One request to a TCP port, or to a Unix socket path; bodies go as JSON, as Python's do,
    so it is the path that is tried, not the host's guard against browsers."""
    if isinstance(where, int):
        connection = http.client.HTTPConnection("127.0.0.1", where, timeout=30)
    else:
        connection = http.client.HTTPConnection("localhost", timeout=30)
        connection.sock = socket.socket(socket.AF_UNIX)
        connection.sock.settimeout(30)
        connection.sock.connect(where)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json", **(headers or {})})
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


def test_no_path_of_the_manager_evaluates_code(managed_faults, tmp_path):
    managed_faults.ensure_running()
    marker = tmp_path / "evaluated"
    for path in CODE_PATHS:
        for method in ("GET", "POST"):
            status, _, _ = raw_request(managed_faults.socket_path, method, path, code_that_writes(marker))
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


@pytest.mark.parametrize("megabytes", [1, 45, 100])
def test_a_call_far_over_the_limit_is_the_hosts_413_whatever_its_size(tmp_path, megabytes):
    # The host refuses a body far over its limit before reading it, so sending it fails
    # midway: Python knows the limit from the host's status and does not send it at all.
    with quiet_host(tmp_path, requestDataLimit=LIMIT) as host:
        echo_text = Function("echo_text", host=js_host(host.config_file))
        started = time.monotonic()
        over_the_limit = f"413: the body of .* bytes is over the host's requestDataLimit of {LIMIT} bytes"
        with pytest.raises(UnexpectedResponse, match=over_the_limit) as caught:
            echo_text.call(text="x" * (megabytes * 1024 * 1024))
        assert caught.value.status == 413
        assert time.monotonic() - started < 5
        assert echo_text.call(text="after") == "after"


BIG_HEADER = {"X-Big": "a" * 20_000}


def test_headers_over_16_kb_are_refused_by_the_host(faults_host):
    assert raw_request(faults_host.port, "POST", "/function/echo", b"{}", BIG_HEADER)[0] == 431
    assert_serves(faults_host)


def test_headers_over_16_kb_are_refused_by_the_manager(managed_faults):
    managed_faults.ensure_running()
    assert raw_request(managed_faults.socket_path, "GET", "/status", b"", BIG_HEADER)[0] == 431
    assert managed_faults.is_running()


def test_a_manager_request_over_64_kb_is_413(managed_faults):
    managed_faults.ensure_running()
    body = json.dumps({"config": "/x" * LIMIT}).encode()
    status, _, answer = raw_request(managed_faults.socket_path, "POST", "/host/status", body)
    assert status == 413
    assert json.loads(answer)["name"] == "RequestTooLarge"
    assert managed_faults.is_running()


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
