"""A real nginx, configured with docs/deployment.rst's cache block, in front of real hosts;
Django's ROOT_URL points at nginx, as the documented settings say.

Two documented set-ups: one host on a Unix socket (the socket's directory and mode as
documented; as root, nginx's workers run as another user, as www-data does in production,
so the permissions are really tested), and two hosts on TCP, with the changes the docs make
for hosts on other machines (their upstream, allowedHosts, a token). Only the example's
paths, ports, names and users are replaced (tests/deployment_docs.py).

What reached Node is counted on the hosts themselves: each host process counts its calls,
and the tests read the counts from each host directly, at its own socket or port, past
nginx and its cache.
"""

import grp
import hashlib
import http.client
import json
import os
import pwd
import subprocess
import uuid
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import pytest

from django_js_host import Function, FunctionError, UnexpectedResponse

from .deployment_docs import (
    DOCUMENTED_NGINX_LISTEN,
    call_directly,
    django_settings,
    nginx_cache_config,
    nginx_machines_config,
    socket_directory,
    write_socket_project,
    write_tcp_project,
)
from .support.dirs import short_temp_dir
from .support.hosts import free_port, running_host
from .support.processes import alive, stop_by_pid, stop_popen, wait_until

NGINX = "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK),
    reason=f"{NGINX} is missing: install Debian's nginx (.ci/run does in CI)",
)

START_TIMEOUT = 30  # seconds, on a busy machine

# What an nginx.conf around the documented block needs to run from a test directory: every
# path nginx writes to is in it (Debian's build puts them under /var).
NGINX_CONF = """\
{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;

events {{
    worker_connections 256;
}}

http {{
    log_format calls '$request $status $upstream_addr cache=$upstream_cache_status';
    access_log {directory}/access.log calls;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

    include {directory}/js-host.conf;
}}
"""


class Worker:
    """Who nginx's workers run as. As root: nobody, standing for Debian's www-data (another
    user than the host's, in the socket's group only through the documented directory).
    Otherwise nginx cannot switch users, and its workers run as we (and the hosts) do."""

    def __init__(self):
        self.switches_user = os.geteuid() == 0
        if self.switches_user:
            account = pwd.getpwnam("nobody")
            self.user, self.gid = account.pw_name, account.pw_gid
            self.group = grp.getgrgid(self.gid).gr_name
        else:
            self.user, self.gid, self.group = None, os.getgid(), None

    def nginx_directive(self):
        return f"user {self.user} {self.group};" if self.switches_user else ""


def child_pids(pid):
    """PIDs of the live children of ``pid`` (nginx's workers, cache manager and loader)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return children


def two_free_ports():
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


class Front:
    """nginx in front of ``hosts``, and how to count their calls.

    ``host_addresses``: where each host is asked directly (its socket's path, or its port);
    ``token``: the hosts' token, if they have one; ``worker``: who nginx's workers run as.
    ``process`` and ``url`` are nginx's, once running_nginx has started it.
    """

    def __init__(self, directory, hosts, host_addresses, worker, token=None):
        self.directory = directory
        self.hosts = hosts
        self.host_addresses = host_addresses
        self.worker = worker
        self.token = token
        self.process = None
        self.url = None

    @property
    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def counts(self, name):
        """How many calls of ``name`` reached each host, asked of each host directly."""
        counts = []
        for where in self.host_addresses:
            status, answer = call_directly(where, "call_counts", token=self.token)
            assert status == 200, answer
            counts.append(answer["calls"].get(name, 0))
        return counts

    def post(self, path, body, headers=None):
        """A raw POST to nginx: (status, X-Cache-Status, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            if self.token:
                all_headers["X-JS-Host-Token"] = self.token
            connection.request("POST", path, body, all_headers)
            response = connection.getresponse()
            return response.status, response.getheader("X-Cache-Status"), response.read()
        finally:
            connection.close()

    def status_pid(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", "/status", headers={"X-JS-Host-Token": self.token or ""})
            return json.loads(connection.getresponse().read())["pid"]
        finally:
            connection.close()

    def logs(self):
        """nginx's error and access logs, for failure messages."""
        logs = []
        for name in ("error.log", "access.log"):
            path = self.directory / name
            logs.append(f"{name}:\n{path.read_text() if path.exists() else '(none)'}")
        return "\n".join(logs)


@contextmanager
def short_directory():
    """A directory with a short path (a socket's must stay under 108 bytes; tmp_path may be
    longer) that nginx's workers may pass through, whoever they run as."""
    with short_temp_dir() as directory:
        os.chmod(directory, 0o711)  # others may enter, not list
        yield Path(directory)


def make_socket_directory(path, worker):
    """The socket's directory as the documented tmpfiles.d line makes it: its mode (setgid,
    0750), and the group of nginx's workers (www-data in the docs)."""
    mode, _owner, _group = socket_directory()
    path.mkdir()
    os.chown(path, -1, worker.gid)
    os.chmod(path, mode)  # after chown, which may clear the setgid bit
    return path


def start_nginx(directory, js_host_conf, worker):
    """nginx with ``js_host_conf(cache_dir=..., listen_port=...)`` as its js-host.conf, its
    workers run by ``worker``, in the foreground; returns (Popen, url)."""
    directory.mkdir()
    os.chmod(directory, 0o755)  # the workers write the cache and temp files in here
    port = free_port()
    conf_text = js_host_conf(cache_dir=directory / "cache", listen_port=port)
    (directory / "js-host.conf").write_text(conf_text)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=worker.nginx_directive(), directory=directory))
    # In the foreground, so the master is our child; -e: its errors before it read the config.
    process = subprocess.Popen(
        [NGINX, "-p", f"{directory}/", "-c", conf, "-e", directory / "error.log", "-g", "daemon off;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


@contextmanager
def running_nginx(front, js_host_conf):
    """nginx for ``front`` (start_nginx), once it answers; stops it and its children by PID."""
    front.process, front.url = start_nginx(front.directory, js_host_conf, front.worker)
    process = front.process
    workers = []
    try:
        ready = wait_until(lambda: _answers(front) or process.poll() is not None, START_TIMEOUT, 0.1)
        assert ready and process.poll() is None, f"nginx did not start:\n{front.logs()}"
        # The master's children: a worker, and the cache manager and loader.
        assert wait_until(lambda: len(child_pids(process.pid)) >= 2, timeout=START_TIMEOUT)
        workers = child_pids(process.pid)
        yield front
    finally:
        # By the master's PID: its workers exit with it.
        stop_popen(process, timeout=30)
        wait_until(lambda: not any(alive(pid) for pid in workers), timeout=30)
        survivors = [pid for pid in workers if alive(pid)]
        for pid in survivors:
            stop_by_pid(pid)
        assert not survivors, f"nginx's children {survivors} outlived its master"


def _answers(front):
    try:
        front.status_pid()
    except (OSError, ValueError, KeyError):
        return False
    return True


def nginx_url_settings(name, documented_url, url):
    """The documented Django settings ``name``, with nginx's URL for the documented one."""
    return {
        **django_settings(name, {f"'{documented_url}'": repr(url)}),
        "CONNECT_ONCE_CONFIGURED": False,
        "FUNCTION_TIMEOUT": 30.0,
    }


@pytest.fixture
def front(tmp_path, settings):
    """One host on the documented Unix socket behind the documented nginx; JS_HOST is the
    documented settings, ROOT_URL at nginx."""
    worker = Worker()
    with short_directory() as short, ExitStack() as stack:
        socket_path = make_socket_directory(short / "run", worker) / "site.sock"
        project = write_socket_project(tmp_path, socket_path)
        host = stack.enter_context(running_host(project / "host.config.js"))
        assert host.status["config"]["socket"] == str(socket_path)
        front = Front(short / "nginx", [host], [str(socket_path)], worker)
        stack.enter_context(running_nginx(front, partial(nginx_cache_config, socket_path=socket_path)))
        settings.JS_HOST = nginx_url_settings(
            "django-settings-nginx", f"http://{DOCUMENTED_NGINX_LISTEN}", front.url
        )
        yield front


@pytest.fixture
def tcp_front(tmp_path, settings, monkeypatch):
    """Two hosts on TCP (the documented config for other machines, on loopback ports, with
    a token from JS_HOST_TOKEN) behind nginx changed as the docs say for them; JS_HOST is
    the documented settings for those Django servers, ROOT_URL at nginx."""
    token = uuid.uuid4().hex
    monkeypatch.setenv("JS_HOST_TOKEN", token)  # for the hosts, and the documented settings
    project = write_tcp_project(tmp_path)
    ports = two_free_ports()
    with short_directory() as short, ExitStack() as stack:
        hosts = [
            stack.enter_context(running_host(project / "host.config.js", "--port", str(port)))
            for port in ports
        ]
        front = Front(short / "nginx", hosts, list(ports), Worker(), token=token)
        stack.enter_context(running_nginx(front, partial(nginx_machines_config, host_ports=ports)))
        settings.JS_HOST = nginx_url_settings(
            "django-settings-machines", "http://nginx:9000", front.url
        )
        assert settings.JS_HOST["TOKEN"] == token
        yield front


def unique():
    return uuid.uuid4().hex


def hashed_path(name, kwargs):
    """The URI and body Python sends for ``name(**kwargs)``."""
    body = json.dumps(kwargs, sort_keys=True).encode()
    return f"/function/{name}?hash={hashlib.sha1(body).hexdigest()}", body


# --- one host on a Unix socket: the documented cache ---


def test_the_same_call_twice_reaches_node_once(front):
    value = unique()
    before = sum(front.counts("counted"))
    first = Function("counted").call_json(value=value)
    assert Function("counted").call_json(value=value) == first
    assert first == {"value": value, "pid": front.hosts[0].pid}
    assert sum(front.counts("counted")) == before + 1, front.logs()
    # The third, as nginx reports it: from the cache.
    path, body = hashed_path("counted", {"value": value})
    status, cache, answer = front.post(path, body)
    assert (status, cache, json.loads(answer)) == (200, "HIT", first)
    assert sum(front.counts("counted")) == before + 1
    # GET /status is never cached: it comes from the host.
    assert front.status_pid() == front.hosts[0].pid


def test_a_function_error_is_not_cached(front):
    value = unique()
    before = sum(front.counts("fails"))
    for _ in range(2):
        with pytest.raises(FunctionError) as raised:
            Function("fails").call(value=value)
        assert raised.value.js_message == f"failed on purpose: {value}"
    assert sum(front.counts("fails")) == before + 2, front.logs()


def test_a_body_that_does_not_match_its_hash_cannot_poison_the_cache(front):
    value = unique()
    path, _ = hashed_path("counted", {"value": value})
    before = sum(front.counts("counted"))
    status, _, answer = front.post(path, json.dumps({"value": "poison"}).encode())
    assert status == 400 and json.loads(answer)["name"] == "HashMismatch"
    assert sum(front.counts("counted")) == before  # refused before the function ran
    assert Function("counted").call_json(value=value)["value"] == value
    assert Function("counted").call_json(value=value)["value"] == value
    assert sum(front.counts("counted")) == before + 1


def test_a_call_without_a_hash_is_never_cached(front):
    body = json.dumps({"value": unique()}).encode()
    before = sum(front.counts("counted"))
    for _ in range(2):
        status, cache, answer = front.post("/function/counted", body)
        assert (status, cache) == (200, "BYPASS")
        assert json.loads(answer) == json.loads(body) | {"pid": front.hosts[0].pid}
    assert sum(front.counts("counted")) == before + 2


def test_deleting_the_cache_files_makes_nginx_ask_a_host_again(front):
    """What the docs say to do when new JS is deployed."""
    value = unique()
    before = sum(front.counts("counted"))
    Function("counted").call_json(value=value)
    Function("counted").call_json(value=value)
    assert sum(front.counts("counted")) == before + 1
    cached = [path for path in (front.directory / "cache").rglob("*") if path.is_file()]
    assert cached
    for path in cached:
        path.unlink()
    Function("counted").call_json(value=value)
    assert sum(front.counts("counted")) == before + 2, front.logs()


def test_nginx_refuses_browsers_even_for_a_cached_answer(front):
    """A cached answer never reaches the host's own checks: nginx makes them."""
    value = unique()
    answer = Function("counted").call_json(value=value)  # now in the cache
    path, body = hashed_path("counted", {"value": value})
    assert front.post(path, body)[:2] == (200, "HIT")
    # A web page of another site; then one whose name was pointed at 127.0.0.1 (DNS rebinding).
    assert front.post(path, body, {"Origin": "https://evil.example"})[0] == 403
    assert front.post(path, body, {"Host": f"evil.example:{front.port}"})[0] == 421
    assert Function("counted").call_json(value=value) == answer


def test_a_socket_that_nginx_workers_may_not_open_gives_502(front):
    """The documented directory and mode are what let nginx's workers (another user) in:
    the same socket with the owner-only mode, 0o600 (the default), shuts them out."""
    if not front.worker.switches_user:
        pytest.skip("nginx's workers run as the host's user unless the tests run as root")
    socket_path = Path(front.host_addresses[0])
    info = socket_path.stat()
    assert (oct(info.st_mode & 0o7777), info.st_gid) == (oct(0o660), front.worker.gid)
    before = sum(front.counts("counted"))
    os.chmod(socket_path, 0o600)
    with pytest.raises(UnexpectedResponse) as raised:
        Function("counted").call_json(value=unique())
    assert "502" in str(raised.value), raised.value
    assert sum(front.counts("counted")) == before  # the host's owner still gets in
    assert "Permission denied" in (front.directory / "error.log").read_text(), front.logs()


# --- two hosts on TCP, as on other machines: upstream, allowedHosts, token ---


def test_tcp_hosts_get_the_calls_from_both_and_the_same_call_once(tcp_front):
    before = tcp_front.counts("counted")
    values = [unique() for _ in range(10)]
    answers = [Function("counted").call_json(value=value) for value in values]
    assert [answer["value"] for answer in answers] == values
    after = tcp_front.counts("counted")
    assert sum(after) - sum(before) == len(values), tcp_front.logs()
    assert all(now > then for now, then in zip(after, before, strict=True)), (before, after)
    assert {answer["pid"] for answer in answers} == {host.pid for host in tcp_front.hosts}
    # Cached as on a socket: the same call again reaches no host.
    assert Function("counted").call_json(value=values[0]) == answers[0]
    assert tcp_front.counts("counted") == after


def test_tcp_hosts_refuse_a_call_without_the_token(tcp_front):
    where = tcp_front.host_addresses[0]
    assert call_directly(where, "counted", token=None, value="x")[0] == 401
    assert call_directly(where, "counted", token=tcp_front.token, value="x")[0] == 200


def test_status_is_not_cached_and_comes_from_both_hosts(tcp_front):
    pids = {tcp_front.status_pid() for _ in range(4)}
    assert pids == {host.pid for host in tcp_front.hosts}


def test_calls_go_on_when_one_host_stops(tcp_front):
    stopping, staying = tcp_front.hosts
    assert Function("counted").call_json(value=unique())  # Python connected through nginx
    assert stopping.stop() == 0  # SIGTERM: it drains, and exits 0
    answers = [Function("counted").call_json(value=unique()) for _ in range(6)]
    assert {answer["pid"] for answer in answers} == {staying.pid}
