"""A real nginx, configured with docs/deployment.rst's upstream and cache block, in front of
two real hosts; Django's ROOT_URL points at nginx.

Only the example's cache directory and ports are replaced (tests/deployment_docs.py). What
reached Node is counted on the hosts themselves: each host process counts its calls, and
the tests read the counts on each host's own port, past nginx and its cache.
"""

import getpass
import hashlib
import http.client
import json
import os
import subprocess
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest

from django_js_host import Function, FunctionError

from .deployment_docs import call_directly, nginx_cache_config, write_project
from .hosts import free_port, running_host
from .processes import alive, stop_by_pid, stop_popen, wait_until

NGINX = "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK),
    reason=f"{NGINX} is missing: install Debian's nginx (.ci/run does in CI)",
)

START_TIMEOUT = 30  # seconds, on a busy machine

# What an nginx.conf around the documented block needs to run from a test directory: every
# path nginx writes to is in it (Debian's build puts them under /var), and a user for the
# workers that may write there (as root nginx would run them as nobody).
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
    """nginx (``url``, ``process``) in front of ``hosts``, and how to count their calls."""

    def __init__(self, process, url, hosts, directory):
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.hosts = hosts
        self.directory = directory

    def counts(self, name):
        """How many calls of ``name`` reached each host, asked on each host's own port."""
        counts = []
        for host in self.hosts:
            status, answer = call_directly(host.status["config"]["port"], "call_counts")
            assert status == 200, answer
            counts.append(answer["calls"].get(name, 0))
        return counts

    def post(self, path, body):
        """A raw POST to nginx: (status, X-Cache-Status, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.getheader("X-Cache-Status"), response.read()
        finally:
            connection.close()

    def status_pid(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", "/status")
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


def start_nginx(directory, host_ports):
    """nginx with the documented config in front of ``host_ports``; returns (Popen, url)."""
    directory.mkdir()
    port = free_port()
    (directory / "js-host.conf").write_text(
        nginx_cache_config(directory / "cache", host_ports, port)
    )
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, directory=directory))
    # In the foreground, so the master is our child; -e: its errors before it read the config.
    process = subprocess.Popen(
        [NGINX, "-p", f"{directory}/", "-c", conf, "-e", directory / "error.log", "-g", "daemon off;"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def front(tmp_path, settings):
    """Two hosts of one project behind the documented nginx; JS_HOST's ROOT_URL is nginx."""
    project = write_project(tmp_path)
    config = project / "host.config.js"
    ports = two_free_ports()
    with ExitStack() as stack:
        hosts = [stack.enter_context(running_host(config, "--port", str(port))) for port in ports]
        process, url = start_nginx(tmp_path / "nginx", ports)
        front = Front(process, url, hosts, tmp_path / "nginx")
        workers = []
        try:
            ready = wait_until(lambda: _answers(front) or process.poll() is not None, START_TIMEOUT, 0.1)
            assert ready and process.poll() is None, f"nginx did not start:\n{front.logs()}"
            # The master's children: a worker, and the cache manager and loader.
            assert wait_until(lambda: len(child_pids(process.pid)) >= 2, timeout=START_TIMEOUT)
            workers = child_pids(process.pid)
            settings.JS_HOST = {
                "SOURCE_ROOT": str(project),
                "ROOT_URL": url,
                "USE_MANAGER": False,
                "CONNECT_ONCE_CONFIGURED": False,
                "FUNCTION_TIMEOUT": 30.0,
            }
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


def token():
    return uuid.uuid4().hex


def test_the_same_call_twice_reaches_node_once(front):
    value = token()
    before = sum(front.counts("counted"))
    first = Function("counted").call_json(value=value)
    assert Function("counted").call_json(value=value) == first
    assert first["value"] == value
    assert sum(front.counts("counted")) == before + 1, front.logs()
    # The third, as nginx reports it: from the cache.
    body = json.dumps({"value": value}).encode()
    path = f"/function/counted?hash={hashlib.sha1(body).hexdigest()}"
    status, cache, answer = front.post(path, body)
    assert (status, cache, json.loads(answer)) == (200, "HIT", first)
    assert sum(front.counts("counted")) == before + 1


def test_different_arguments_reach_node_each_time_and_both_hosts_get_calls(front):
    before = front.counts("counted")
    values = [token() for _ in range(10)]
    answers = [Function("counted").call_json(value=value) for value in values]
    assert [answer["value"] for answer in answers] == values
    after = front.counts("counted")
    assert sum(after) - sum(before) == len(values), front.logs()
    assert all(now > then for now, then in zip(after, before)), (before, after)
    assert {answer["pid"] for answer in answers} == {host.pid for host in front.hosts}


def test_a_function_error_is_not_cached(front):
    value = token()
    before = sum(front.counts("fails"))
    for _ in range(2):
        with pytest.raises(FunctionError) as raised:
            Function("fails").call(value=value)
        assert raised.value.js_message == f"failed on purpose: {value}"
    assert sum(front.counts("fails")) == before + 2, front.logs()


def test_a_body_that_does_not_match_its_hash_cannot_poison_the_cache(front):
    value = token()
    honest = json.dumps({"value": value}).encode()
    path = f"/function/counted?hash={hashlib.sha1(honest).hexdigest()}"
    before = sum(front.counts("counted"))
    status, _, answer = front.post(path, json.dumps({"value": "poison"}).encode())
    assert status == 400 and json.loads(answer)["name"] == "HashMismatch"
    assert sum(front.counts("counted")) == before  # refused before the function ran
    assert Function("counted").call_json(value=value)["value"] == value
    assert Function("counted").call_json(value=value)["value"] == value
    assert sum(front.counts("counted")) == before + 1


def test_a_call_without_a_hash_is_never_cached(front):
    body = json.dumps({"value": token()}).encode()
    before = sum(front.counts("counted"))
    for _ in range(2):
        status, cache, answer = front.post("/function/counted", body)
        assert (status, cache) == (200, "BYPASS")
        assert json.loads(answer) == json.loads(body) | {"pid": json.loads(answer)["pid"]}
    assert sum(front.counts("counted")) == before + 2


def test_status_is_not_cached_and_comes_from_both_hosts(front):
    pids = {front.status_pid() for _ in range(4)}
    assert pids == {host.pid for host in front.hosts}


def test_calls_go_on_when_one_host_stops(front):
    stopping, staying = front.hosts
    assert Function("counted").call_json(value=token())  # Python connected through nginx
    assert stopping.stop() == 0  # SIGTERM: it drains, and exits 0
    answers = [Function("counted").call_json(value=token()) for _ in range(6)]
    assert {answer["pid"] for answer in answers} == {staying.pid}


def test_deleting_the_cache_files_makes_nginx_ask_a_host_again(front):
    """What the docs say to do when new JS is deployed."""
    value = token()
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
