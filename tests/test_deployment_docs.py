"""docs/deployment.rst: it renders, its stop timeouts outlast the host's drain, its blocks
agree on the socket and who may open it, the container health check it documents tells a
running host from none, and its Kubernetes probes are answered by a host on TCP.

The host config, supervisor, nginx and Django blocks are run for real by
tests/test_supervisor.py and tests/test_nginx.py.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import docutils.core

from .deployment_docs import (
    DEFAULT_GRACE_PERIOD,
    DEPLOYMENT,
    DOCUMENTED_NGINX_USER,
    DOCUMENTED_PORT,
    DOCUMENTED_SOCKET,
    DOCUMENTED_USER,
    code_block,
    node_path,
    request,
    settings_of,
    socket_directory,
    substitute,
)
from .support.hosts import FIXTURES, free_port, running_host, write_config


def test_deployment_docs_render_without_warnings():
    docutils.core.publish_string(
        DEPLOYMENT.read_text(), writer="null", settings_overrides={"report_level": 2, "halt_level": 2}
    )


def test_every_documented_stop_timeout_outlasts_the_hosts_grace_period():
    """A supervisor that SIGKILLs before the host's drain ends would cut calls in flight."""
    supervisor = settings_of(code_block("supervisor-program"), "stopsignal", "stopwaitsecs")
    assert supervisor["stopsignal"] == "TERM"
    assert int(supervisor["stopwaitsecs"]) > DEFAULT_GRACE_PERIOD

    systemd = settings_of(code_block("systemd-unit"), "KillSignal", "KillMode", "TimeoutStopSec")
    assert systemd["KillSignal"] == "SIGTERM"
    assert systemd["KillMode"] == "mixed"  # SIGTERM to node only: it drains its own calls
    assert int(systemd["TimeoutStopSec"]) > DEFAULT_GRACE_PERIOD

    kubernetes = re.search(r"terminationGracePeriodSeconds: (\d+)", code_block("kubernetes-probes"))
    assert int(kubernetes.group(1)) > DEFAULT_GRACE_PERIOD


def test_systemd_and_supervisor_run_the_same_command():
    exec_start = settings_of(code_block("systemd-unit"), "ExecStart")["ExecStart"]
    command = settings_of(code_block("supervisor-program"), "command")["command"]
    assert exec_start == command


def test_every_block_names_the_same_socket():
    """Python reads the config's socket, the supervisors pass --socket, nginx proxies to
    it, and systemd makes its directory: one path, or calls go nowhere."""
    config = code_block("host-config-socket")
    assert re.search(r"^\s*socket: '([^']*)'", config, re.MULTILINE).group(1) == DOCUMENTED_SOCKET
    commands = [
        line for name in ("systemd-unit", "supervisor-program")
        for line in code_block(name).splitlines() if "js-host.js " in line or "jshost start" in line
    ]  # fmt: skip
    assert len(commands) == 4, commands  # each block's command, and its `manage.py` alternative
    for command in commands:
        assert command.endswith(f" --socket {DOCUMENTED_SOCKET}"), command
    nginx = code_block("nginx-cache")
    assert re.findall(r"proxy_pass (\S+);", nginx) == [f"http://unix:{DOCUMENTED_SOCKET}:"] * 2
    runtime_directory = settings_of(code_block("systemd-unit"), "RuntimeDirectory")["RuntimeDirectory"]
    assert Path("/run", runtime_directory) == Path(DOCUMENTED_SOCKET).parent


def test_the_sockets_directory_lets_in_the_site_and_nginx_only():
    """The owner (the site's user, who runs the host and Django) and the group (nginx's
    workers) may enter and connect; other users may not; and the socket file takes the
    group: from the host's group under systemd, from the setgid directory otherwise."""
    systemd = settings_of(code_block("systemd-unit"), "User", "Group", "RuntimeDirectoryMode")
    supervisor = settings_of(code_block("supervisor-program"), "user")
    tmpfiles_mode, tmpfiles_owner, tmpfiles_group = socket_directory()
    assert systemd["User"] == supervisor["user"] == tmpfiles_owner == DOCUMENTED_USER
    assert systemd["Group"] == tmpfiles_group == DOCUMENTED_NGINX_USER
    assert int(systemd["RuntimeDirectoryMode"], 8) == tmpfiles_mode & 0o777 == 0o750
    assert tmpfiles_mode & 0o2000  # setgid: supervisor runs the host with the user's own group
    config = code_block("host-config-socket")
    socket_mode = re.search(r"^\s*socketMode: (0o[0-7]+),", config, re.MULTILINE)
    assert int(socket_mode.group(1), 8) == 0o660


def documented_healthcheck():
    """The argv of the Dockerfile's ``HEALTHCHECK ... CMD [...]`` (exec form: JSON)."""
    dockerfile = code_block("dockerfile").replace("\\\n", " ")
    line = next(line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK "))
    return json.loads(line.split(" CMD ", 1)[1])


def run_healthcheck(port, environ=None):
    argv = [
        substitute(arg, {f":{DOCUMENTED_PORT}/": f":{port}/"}) if "/status" in arg else arg
        for arg in documented_healthcheck()
    ]
    assert argv[0] == "node"
    return subprocess.run(
        [node_path(), *argv[1:]], check=False, capture_output=True, timeout=30, env=environ
    ).returncode


def test_the_dockerfile_healthcheck_passes_for_a_running_host_and_fails_without_one(tmp_path):
    port = free_port()
    assert run_healthcheck(port) == 1  # nothing listens
    config = write_config(tmp_path, port, functions_from=FIXTURES / "production.config.js")
    with running_host(config):
        assert run_healthcheck(port) == 0


def test_the_dockerfile_healthcheck_sends_the_containers_token(tmp_path):
    """A host with a token refuses /status without it (401): the check sends JS_HOST_TOKEN."""
    port = free_port()
    token = "a-token-for-the-health-check"
    config = write_config(tmp_path, port, functions_from=FIXTURES / "production.config.js", token=token)
    without_token = {name: value for name, value in os.environ.items() if name != "JS_HOST_TOKEN"}
    with running_host(config):
        assert run_healthcheck(port, {**without_token, "JS_HOST_TOKEN": token}) == 0
        assert run_healthcheck(port, without_token) == 1


def documented_probes():
    """The Kubernetes probes as (name, path, port, Host header)."""
    pattern = (
        r"(readinessProbe|livenessProbe):\n\s*httpGet: \{path: (\S+), port: (\d+), "
        r"httpHeaders: \[\{name: Host, value: (\S+)\}\]\}\n"
    )
    return [
        (name, path, int(port), host)
        for name, path, port, host in re.findall(pattern, code_block("kubernetes-probes"))
    ]


def test_kubernetes_probes_name_a_host_that_a_tcp_host_answers_to(tmp_path):
    probes = code_block("kubernetes-probes")
    assert f'"--address", "0.0.0.0", "--port", "{DOCUMENTED_PORT}"' in probes
    found = documented_probes()
    assert [name for name, *_ in found] == ["readinessProbe", "livenessProbe"], probes
    # Without httpHeaders the kubelet sends the pod's IP as Host, which a host on 0.0.0.0
    # does not know as one of its names. (This host listens on loopback: the Host header,
    # not the address asked, is what it checks.)
    port = free_port()
    config = write_config(tmp_path, port, functions_from=FIXTURES / "production.config.js")
    with running_host(config):
        pod_ip = {"Host": f"10.1.2.3:{port}"}
        assert request(port, "GET", "/status", None, 5, headers=pod_ip)[0] == 421
        for _name, path, probe_port, host in found:
            assert (path, probe_port) == ("/status", DOCUMENTED_PORT)
            assert request(port, "GET", path, None, 5, headers={"Host": host})[0] == 200
