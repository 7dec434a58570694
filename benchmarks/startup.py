"""How long a fresh Python process waits for its first result, with and without a warm host.

    .venv/bin/python benchmarks/startup.py [--rounds 15] [--without-extra-ca-certs] [--no-bytecode-cache]

Prints one table of medians (min-max) measured side by side in one run:

* bare http.client   a script that only imports http.client and POSTs over TCP to a warm
                     host (an unmanaged one on a free loopback port, serving the same config):
                     the floor for "a new process gets an answer", and the one the ratios use
* bare AF_UNIX       the same script over the managed host's Unix socket (an HTTPConnection
                     whose connect() opens an AF_UNIX socket): the floor on the managed
                     host's own transport, shown for comparison
* warm managed host  a script that configures django_js_host (USE_MANAGER=True) and calls
                     a function; the manager and its host are already running
* cold start         the same script with no manager running: it spawns the manager, the
                     manager spawns the host, then the call; "first call" is the time from
                     configure() (which connects, and so starts them) to the result, inside
                     the process

A cold start is three node processes started one after the other (`js-host.js --manager
--detach`, the manager it starts, the host the manager starts), so it moves with the cost of
starting node, which a line under the table reports: `node -e 0`, and `node -e 0` without
NODE_EXTRA_CA_CERTS when that is set (node 20 reads and parses those certificates at every
start). --without-extra-ca-certs runs the timed processes (and so the manager and hosts
they start) without it. Another line reports what importing httptools (which parses the
answers) costs a fresh process, and how much of it is `typing`, which it imports.

Python's bytecode is cached in a temp dir (PYTHONPYCACHEPREFIX) filled by an untimed round 0,
so every script runs as from an installed package, which pip compiles at install, even where
PYTHONDONTWRITEBYTECODE is set (it is on the machine this was written on, where it made every
process compile the whole package: ~10 ms); --no-bytecode-cache leaves that to the
environment. Within a round the three warm scripts run in an order rotated each round, and
each ratio is the median of per-round ratios.

The manager gets a RUNTIME_DIR of its own (a fresh short directory in /tmp: socket paths
are limited to ~107 bytes), so a developer's own manager is never touched. Every process
started here is stopped here, by PID.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.processes import alive, stop_by_pid, stop_popen, wait_until  # noqa: E402 (needs REPO on sys.path)

CONFIG = "module.exports = {functions: {hello(data, cb) { cb(null, 'Hello, ' + data.name); }}};\n"
START_TIMEOUT = 30.0


def managed_script(project, runtime_dir):
    return textwrap.dedent(
        f"""
        import time
        from django_js_host.conf import settings
        from django_js_host.function import Function
        # From configure(), which connects (and so, cold, starts the manager and the host).
        started = time.perf_counter()
        settings.configure(SOURCE_ROOT={str(project)!r}, USE_MANAGER=True,
                           RUNTIME_DIR={str(runtime_dir)!r}, VERBOSITY='SILENT')
        assert Function('hello').call(name='bench') == 'Hello, bench'
        print(time.perf_counter() - started)
        """
    )


def bare_script(port):
    """http.client over TCP to 127.0.0.1:port; the request as before the move to sockets."""
    return textwrap.dedent(
        f"""
        import http.client, time
        started = time.perf_counter()
        connection = http.client.HTTPConnection('127.0.0.1', {port})
        connection.request('POST', '/function/hello', b'{{"name": "bench"}}',
                           {{'Content-Type': 'application/json'}})
        assert connection.getresponse().read() == b'Hello, bench'
        print(time.perf_counter() - started)
        """
    )


def bare_unix_script(socket_path):
    """The same request with http.client over a Unix socket (socket is imported by http.client)."""
    return textwrap.dedent(
        f"""
        import http.client, socket, time
        started = time.perf_counter()
        class UnixHTTPConnection(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect({socket_path!r})
        connection = UnixHTTPConnection('localhost')
        connection.request('POST', '/function/hello', b'{{"name": "bench"}}',
                           {{'Content-Type': 'application/json'}})
        assert connection.getresponse().read() == b'Hello, bench'
        print(time.perf_counter() - started)
        """
    )


def timed_env(without_extra_ca_certs, pycache):
    """The environment of the timed processes (and of the manager and hosts they start).

    ``pycache``: a directory for Python's bytecode cache (PYTHONPYCACHEPREFIX), so that no
    process compiles the package again, as none does once it is installed (pip writes the
    .pyc files), even where PYTHONDONTWRITEBYTECODE is set; and so that nothing is written
    into the working tree. None: the environment's own choice.
    """
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    if without_extra_ca_certs:
        env.pop("NODE_EXTRA_CA_CERTS", None)
    if pycache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def timed_run(script, cwd, env):
    """Wall time of a whole fresh process, and the time it reports for its first call."""
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, float(finished.stdout.strip())


def start_tcp_host(project):
    """An unmanaged host on a free loopback port (the bare TCP script's peer); (Popen, port)."""
    from django_js_host.conf import PACKAGED_BIN

    out = Path(project, "tcp-host.out")
    with open(out, "w") as stdout:
        process = subprocess.Popen(
            ["node", PACKAGED_BIN, "host.config.js", "--port", "0", "--json"],
            cwd=project, stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    while "\n" not in out.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_popen(process)
            raise RuntimeError(f"the TCP host did not start: {out.read_text()!r}")
        time.sleep(0.01)
    return process, json.loads(out.read_text().split("\n", 1)[0])["config"]["port"]


def stop_manager(manager):
    """Stop the manager and its hosts, then make sure of it by PID."""
    try:
        status = manager.get_status()
    except Exception:
        return
    manager.stop()
    for pid in [status["pid"], *(host["pid"] for host in status["hosts"] if host["pid"])]:
        if not wait_until(lambda pid=pid: not alive(pid)):
            stop_by_pid(pid)


def node_start(env, runs=7):
    """Median ms of `node -e 0` in ``env``: what each node process of a cold start pays first."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["node", "-e", "0"], env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def import_cost(env, module="httptools", runs=7):
    """Median ms to import ``module`` in a fresh process (``-X importtime``, cumulative), and
    of that, the ms of ``typing``, which httptools imports and a Django process has already."""
    totals, typing = [], []
    for _ in range(runs):
        finished = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"], env=env, capture_output=True, text=True,
            check=True,
        )
        cumulative = {}
        for line in finished.stderr.splitlines():
            _, _, numbers = line.partition("import time:")
            parts = numbers.split("|")
            if len(parts) == 3 and parts[1].strip().isdigit():
                cumulative[parts[2].strip()] = int(parts[1]) / 1000
        totals.append(cumulative[module])
        typing.append(cumulative.get("typing", 0.0))
    return statistics.median(totals), statistics.median(typing)


def summary(samples):
    ms = sorted(sample * 1000 for sample in samples)
    return statistics.median(ms), ms[0], ms[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--without-extra-ca-certs", action="store_true",
                        help="run the timed processes (and the manager and hosts they start) "
                        "without NODE_EXTRA_CA_CERTS")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="leave Python's bytecode cache to the environment (PYTHONDONTWRITEBYTECODE=1: "
                        "every process compiles the package anew)")
    args = parser.parse_args()
    rounds = args.rounds
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)  # settings.configure() below, not a project's

    from django_js_host.conf import settings

    runtime_dir = tempfile.mkdtemp(prefix="jsh-", dir="/tmp")
    pycache = None if args.no_bytecode_cache else tempfile.mkdtemp(prefix="jsh-pyc-")
    env = timed_env(args.without_extra_ca_certs, pycache)
    tcp_host = None
    try:
        with tempfile.TemporaryDirectory(prefix="jsh-startup-") as project:
            Path(project, "host.config.js").write_text(CONFIG)
            settings.configure(SOURCE_ROOT=project, USE_MANAGER=True, RUNTIME_DIR=runtime_dir, VERBOSITY="SILENT")
            from django_js_host.host import host
            from django_js_host.links.manager import manager

            results = {"bare http.client": [], "bare AF_UNIX": [], "warm managed host": [], "cold start": []}
            try:
                tcp_host, tcp_port = start_tcp_host(project)
                # Round 0 is untimed: it fills the bytecode cache, and the page cache.
                for index in range(rounds + 1):
                    # Cold: nothing running.
                    stop_manager(manager)
                    host.reset()
                    samples = {"cold start": timed_run(managed_script(project, runtime_dir), project, env)}
                    # Warm: this process holds the host so it stays up between the runs.
                    host.connect()
                    socket_path = host.get_url().removeprefix("unix:")
                    warm = {
                        "warm managed host": managed_script(project, runtime_dir),
                        "bare http.client": bare_script(tcp_port),
                        "bare AF_UNIX": bare_unix_script(socket_path),
                    }
                    names = list(warm)
                    names = names[index % 3 :] + names[: index % 3]  # the order rotates each round
                    for name in names:
                        samples[name] = timed_run(warm[name], project, env)
                    host.disconnect()
                    if index:
                        for name, sample in samples.items():
                            results[name].append(sample)
            finally:
                stop_manager(manager)
                if tcp_host is not None:
                    stop_popen(tcp_host)
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        if pycache:
            shutil.rmtree(pycache, ignore_errors=True)

    floor = [wall for wall, _ in results["bare http.client"]]
    print(f"Fresh Python process -> first result, {rounds} rounds, ms: median (min-max)")
    print("x floor: whole process against bare http.client (TCP) in the same round, median of the rounds")
    print(f"bytecode: {'cached (as installed)' if pycache else 'as the environment says'}; "
          f"PYTHONDONTWRITEBYTECODE {'is' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'is not'} set here")
    print(f"{'':20} {'whole process':>24} {'first call':>24} {'x floor':>8}")
    for name, samples in results.items():
        wall = summary([w for w, _ in samples])
        call = summary([c for _, c in samples])
        ratio = statistics.median(w / f for (w, _), f in zip(samples, floor, strict=False))
        print(
            f"{name:20} {wall[0]:10.1f} ({wall[1]:5.1f}-{wall[2]:6.1f}) "
            f"{call[0]:10.2f} ({call[1]:5.2f}-{call[2]:6.2f}) {ratio:8.2f}"
        )
    httptools_ms, typing_ms = import_cost(env)
    print(f"import httptools (the answers' parser; -X importtime, median of 7): {httptools_ms:.1f} ms, "
          f"of which typing {typing_ms:.1f} ms (a Django process has imported typing already)")
    line = f"node start (node -e 0, median of 7): {node_start(env):.1f} ms"
    if "NODE_EXTRA_CA_CERTS" in env:
        line += (f"; {node_start({k: v for k, v in env.items() if k != 'NODE_EXTRA_CA_CERTS'}):.1f} ms "
                 "without NODE_EXTRA_CA_CERTS (set here, and read at every node start)")
    elif "NODE_EXTRA_CA_CERTS" in os.environ:
        line += " (NODE_EXTRA_CA_CERTS left out of the timed processes: --without-extra-ca-certs)"
    print(line)
    started = [("TCP host", tcp_host.pid)] if tcp_host is not None else []
    left = [(label, pid) for label, pid in started if alive(pid)]
    print(f"Processes: {', '.join(f'{label} {pid}' for label, pid in started)} and the managers and hosts "
          f"of each round: {'stopped (checked by PID)' if not left else f'STILL ALIVE: {left}'}.")


if __name__ == "__main__":
    main()
