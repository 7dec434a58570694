"""Start and stop real host processes for tests, always by PID."""

import json
import socket
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

from django_js_host.conf import PACKAGED_BIN

from .processes import stop_popen

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_CONFIG = FIXTURES / "host.config.js"
# Functions whose output is a stream, of each kind, and functions that watch this.signal.
STREAMS_CONFIG = FIXTURES.parent / "js" / "fixtures" / "streams.config.js"

# Set in the environment of every process the suite starts (and so of their children), so
# the suite can find any it failed to stop: see conftest.assert_no_process_left_behind.
RUN_MARKER = "DJANGO_JS_HOST_TEST_RUN"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(directory, port, functions_from=FIXTURE_CONFIG, **options):
    """A config file at a fixed free port that reuses the functions of ``functions_from``."""
    path = Path(directory) / f"host-{port}.config.js"
    settings = json.dumps({"port": port, **options})
    path.write_text(
        f"module.exports = Object.assign({{}}, require({json.dumps(str(functions_from))}), {settings});\n"
    )
    return path


class HostProcess:
    """A host we started: its Popen, pid, URL and the status it printed."""

    def __init__(self, process, status):
        self.process = process
        # Read and drop what it prints from now on: a pipe nobody reads fills at 64 KB, and
        # node then keeps every later log line in its memory (+23 % RSS per 100k calls).
        self._drains = [
            threading.Thread(target=_drain, args=(stream,), daemon=True)
            for stream in (process.stdout, process.stderr)
        ]
        for drain in self._drains:
            drain.start()
        self.pid = process.pid
        self.status = status
        config = status["config"]
        self.config_file = config["configFile"]
        self.socket = config.get("socket")
        self.url = f"unix:{self.socket}" if self.socket else f"http://{config['address']}:{config['port']}"

    def stop(self, timeout=10):
        """Stop our process by PID (SIGTERM, then SIGKILL); returns its exit code."""
        code = stop_popen(self.process, timeout, close_streams=False)
        for drain in self._drains:
            drain.join(timeout)  # at the end of its pipe, now that the process is gone
        self.process.stdout.close()
        self.process.stderr.close()
        return code


def _drain(stream):
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):
        pass  # closed under us


def launch_host(config_file, *args, node="node", bin_path=PACKAGED_BIN, env=None):
    """Start ``js-host.js CONFIG --json`` and wait for the status line it prints once listening."""
    process = subprocess.Popen(
        [node, str(bin_path), str(config_file), "--json", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = process.stdout.readline()
    try:
        return HostProcess(process, json.loads(first_line))
    except ValueError:
        process.kill()
        process.wait()
        stderr = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
        raise RuntimeError(f"host did not start: {first_line!r} {stderr}") from None


@contextmanager
def running_host(config_file, *args, **kwargs):
    host_process = launch_host(config_file, *args, **kwargs)
    try:
        yield host_process
    finally:
        host_process.stop()


def processes_marked_with(token):
    """PIDs of live processes whose environment carries RUN_MARKER=token."""
    needle = f"{RUN_MARKER}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().split(") ", 1)[1].startswith("Z"):
                continue  # exited; only waiting for its parent to reap it
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in environ:
            found.append((int(entry.name), cmdline))
    return found


def js_host_for_test(config_file):
    """JS_HOST settings that point the default host at ``config_file`` for one test: it
    connects at its first call, and no call waits long."""
    return {"CONFIG_FILE": str(config_file), "CONNECT_ONCE_CONFIGURED": False, "FUNCTION_TIMEOUT": 5.0}
