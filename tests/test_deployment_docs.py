"""docs/deployment.rst: it renders, its stop timeouts outlast the host's drain, and the
container health check it documents tells a running host from none.

The supervisor and nginx blocks are run for real by tests/test_supervisor.py and
tests/test_nginx.py.
"""

import json
import re
import subprocess

import docutils.core

from .deployment_docs import (
    DEFAULT_GRACE_PERIOD,
    DEPLOYMENT,
    DOCUMENTED_PORT,
    code_block,
    node_path,
    settings_of,
    substitute,
)
from .hosts import FIXTURES, free_port, running_host, write_config


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


def documented_healthcheck():
    """The argv of the Dockerfile's ``HEALTHCHECK ... CMD [...]`` (exec form: JSON)."""
    dockerfile = code_block("dockerfile").replace("\\\n", " ")
    line = next(line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK "))
    return json.loads(line.split(" CMD ", 1)[1])


def run_healthcheck(port):
    argv = [
        substitute(arg, {f":{DOCUMENTED_PORT}/": f":{port}/"}) if "/status" in arg else arg
        for arg in documented_healthcheck()
    ]
    assert argv[0] == "node"
    return subprocess.run([node_path(), *argv[1:]], check=False, capture_output=True, timeout=30).returncode


def test_the_dockerfile_healthcheck_passes_for_a_running_host_and_fails_without_one(tmp_path):
    port = free_port()
    assert run_healthcheck(port) == 1  # nothing listens
    config = write_config(tmp_path, port, functions_from=FIXTURES / "production.config.js")
    with running_host(config):
        assert run_healthcheck(port) == 0


def test_kubernetes_probes_ask_for_status_on_the_hosts_port():
    probes = code_block("kubernetes-probes")
    for probe in ("readinessProbe", "livenessProbe"):
        after = probes.split(f"{probe}:\n", 1)[1].lstrip()
        assert after.startswith(f"httpGet: {{path: /status, port: {DOCUMENTED_PORT}}}\n"), probes
    assert f'"--address", "0.0.0.0", "--port", "{DOCUMENTED_PORT}"' in probes
