"""How long a fresh Python process waits for its first result, with and without a warm host.

    .venv/bin/python benchmarks/startup.py [--rounds 7]

Prints one table of medians (min-max) measured side by side in one run:

* bare http.client   a script that only imports http.client and POSTs to the warm host:
                     the floor for "a new process gets an answer"
* warm managed host  a script that configures django_js_host (USE_MANAGER=True) and calls
                     a function; the manager and host are already running
* cold start         the same script with no manager running: it spawns the manager, the
                     manager spawns the host, then the call; "first call" is the time from
                     the call to its result, inside the process

Everything runs on loopback, on free ports, in a temp dir; every process started here is
stopped here, by PID.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.processes import alive, stop_by_pid, wait_until  # noqa: E402 (needs REPO on sys.path)

CONFIG = "module.exports = {functions: {hello(data, cb) { cb(null, 'Hello, ' + data.name); }}};\n"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def managed_script(project, manager_port):
    return textwrap.dedent(
        f"""
        import time
        from django_js_host.conf import settings
        settings.configure(SOURCE_ROOT={str(project)!r}, USE_MANAGER=True,
                           MANAGER_PORT={manager_port}, VERBOSITY='SILENT')
        from django_js_host.function import Function
        started = time.perf_counter()
        assert Function('hello').call(name='bench') == 'Hello, bench'
        print(time.perf_counter() - started)
        """
    )


def bare_script(url):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return textwrap.dedent(
        f"""
        import http.client, time
        started = time.perf_counter()
        connection = http.client.HTTPConnection({host!r}, {port})
        connection.request('POST', '/function/hello', b'{{"name": "bench"}}',
                           {{'Content-Type': 'application/json'}})
        assert connection.getresponse().read() == b'Hello, bench'
        print(time.perf_counter() - started)
        """
    )


def timed_run(script, cwd):
    """Wall time of a whole fresh process, and the time it reports for its first call."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, float(finished.stdout.strip())


def stop_manager(manager):
    """Stop the manager and its hosts, then make sure of it by PID."""
    try:
        status = manager.get_status()
    except Exception:
        return
    manager.stop()
    for pid in [status["pid"], *(host["pid"] for host in status["hosts"] if host["pid"])]:
        if not wait_until(lambda: not alive(pid)):
            stop_by_pid(pid)


def summary(samples):
    ms = sorted(sample * 1000 for sample in samples)
    return statistics.median(ms), ms[0], ms[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds

    from django_js_host.conf import settings

    with tempfile.TemporaryDirectory() as project:
        Path(project, "host.config.js").write_text(CONFIG)
        port = free_port()
        settings.configure(SOURCE_ROOT=project, USE_MANAGER=True, MANAGER_PORT=port, VERBOSITY="SILENT")
        from django_js_host.host import host
        from django_js_host.manager import manager

        results = {"bare http.client": [], "warm managed host": [], "cold start": []}
        try:
            for _ in range(rounds):
                # Cold: nothing running.
                stop_manager(manager)
                host.reset()
                results["cold start"].append(timed_run(managed_script(project, port), project))
                # Warm: this process holds the host so it stays up between the runs.
                host.connect()
                url = host.get_url()
                results["warm managed host"].append(timed_run(managed_script(project, port), project))
                results["bare http.client"].append(timed_run(bare_script(url), project))
                host.disconnect()
        finally:
            stop_manager(manager)

    floor = summary([wall for wall, _ in results["bare http.client"]])[0]
    print(f"Fresh Python process -> first result, {rounds} rounds, ms: median (min-max)")
    print(f"{'':20} {'whole process':>24} {'first call':>24} {'x floor':>8}")
    for name, samples in results.items():
        wall = summary([w for w, _ in samples])
        call = summary([c for _, c in samples])
        print(
            f"{name:20} {wall[0]:10.1f} ({wall[1]:5.1f}-{wall[2]:6.1f}) "
            f"{call[0]:10.2f} ({call[1]:5.2f}-{call[2]:6.2f}) {wall[0] / floor:8.2f}"
        )


if __name__ == "__main__":
    main()
