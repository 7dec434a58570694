"""Soak: a million trivial calls through Function.call, with the host's memory sampled.

    .venv/bin/python benchmarks/soak.py                    # 1,000,000 calls (~4 min on 2 cores)
    .venv/bin/python benchmarks/soak.py --calls 100000     # the quick check (~25 s)
    .venv/bin/python benchmarks/soak.py --threads 4        # the same calls from 4 threads

Starts one host (js-host.js serving benchmarks/functions.js, on a free loopback port,
unmanaged, its per-call log lines sent to /dev/null), warms it up (--warm-up calls), then
makes --calls calls of the trivial ``hello(name)`` through ``Function.call`` in blocks of
--sample-every calls, reading the host's resident memory (VmRSS of /proc/<pid>/status)
after each block. Every answer is checked. Prints a table of the samples, the growth, and
PASS or MISS against --limit (10 % by default); exits 1 on a MISS.

The rule. V8 grows its heap and collects it in waves, so two single samples can differ by
several MB with nothing leaking. The baseline is the median of the first --window samples
after the warm-up, the end is the median of the last --window samples, and growth is
(end - baseline) / baseline. A leak of even a few bytes per call shows over a million
calls (100 bytes a call would be +95 MB); a GC wave does not move a median of five.

Reading it. Each sample also shows V8's heap (process.memoryUsage(): used and total), read
by one untimed call. A leak raises "heap used" (with --gc: the live heap after a full
collection) along with RSS. V8 also resizes its heap once in a while without leaking: on
node 20, after ~200,000 calls it doubles its young generation (heap total 22 -> 38 MB, RSS
+12-15 MB in one step) and may give the memory back hundreds of thousands of calls later.
Such a step is flat before and after; a leak is a slope. When a MISS comes with a flat
"heap used", look at the table before calling it a leak.

The host is stopped by PID at the end, whatever happens, and checked to be gone.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import namedtuple
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.support.processes import alive, stop_popen, wait_until  # noqa: E402 (needs REPO on sys.path)

FUNCTIONS_JS = HERE / "functions.js"
HOST_CONFIG = """\
// Written by benchmarks/soak.py: the trivial function of functions.js, callback style.
const fns = require({functions});
module.exports = {{port: {port}, functions: {{
  hello(data, cb) {{ cb(null, fns.hello(data)); }},
  // Called once per sample, never timed: V8's heap as it is now, after a full collection
  // first when soak.py runs with --gc (node then runs with --expose-gc).
  memory(data, cb) {{
    if (data.gc) global.gc();
    cb(null, process.memoryUsage());
  }},
}}}};
"""


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One sample: calls made since the warm-up, the host's RSS, V8's heap used and total (kB),
# and the seconds since the warm-up began. A namedtuple, like the package's Response.
Sample = namedtuple("Sample", "calls rss heap_used heap_total seconds")


def rss_kb(pid):
    """The resident set size of ``pid`` in kB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_host(directory, gc=False):
    """Start the host; return (Popen, config file, port). Its stdout (a line per call) goes to /dev/null."""
    from django_js_host.conf import PACKAGED_BIN

    port = free_port()
    config_file = Path(directory) / "host.config.js"
    config_file.write_text(HOST_CONFIG.format(functions=json.dumps(str(FUNCTIONS_JS)), port=port))
    stderr = open(Path(directory) / "host.err", "w")
    process = subprocess.Popen(
        ["node", *(["--expose-gc"] if gc else []), PACKAGED_BIN, str(config_file)],
        stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    stderr.close()
    return process, config_file, port


def make_calls(hello, count, threads, label):
    """``count`` calls of hello, split over ``threads`` threads; every answer is checked."""
    errors = []

    def work(share, thread_number):
        try:
            for n in range(share):
                name = f"{label}-{thread_number}-{n}"
                answer = hello.call(name=name)
                if answer != "Hello, " + name:
                    raise AssertionError(f"{name!r} got {answer!r}")
        except Exception as error:  # reported by the caller
            errors.append(error)

    shares = [count // threads + (1 if n < count % threads else 0) for n in range(threads)]
    if threads == 1:
        work(count, 0)
    else:
        workers = [threading.Thread(target=work, args=(share, n)) for n, share in enumerate(shares)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    if errors:
        raise errors[0]


def soak(args):
    with tempfile.TemporaryDirectory(prefix="soak-") as directory:
        process, config_file, port = start_host(directory, args.gc)
        try:
            from django_js_host.conf import settings
            from django_js_host.function import Function
            from django_js_host.host import JSHost

            settings.configure(CONFIG_FILE=str(config_file), SOURCE_ROOT=directory, VERBOSITY="SILENT")
            host = JSHost()
            if not wait_until(host.is_running, timeout=30):
                raise RuntimeError(f"the host did not start: {Path(directory, 'host.err').read_text()}")
            hello = Function("hello", host=host, timeout=30)
            memory = Function("memory", host=host, timeout=30)
            pid = process.pid
            started_rss = rss_kb(pid)
            began = time.monotonic()
            make_calls(hello, args.warm_up, args.threads, "warm")

            def sample(calls):
                heap = memory.call_json(gc=args.gc)  # first, so a --gc collection shows in RSS
                return Sample(
                    calls, rss_kb(pid), heap["heapUsed"] / 1024, heap["heapTotal"] / 1024, time.monotonic() - began
                )

            samples = [sample(0)]
            done = 0
            while done < args.calls:
                block = min(args.sample_every, args.calls - done)
                make_calls(hello, block, args.threads, f"c{done}")
                done += block
                samples.append(sample(done))
                if args.progress:
                    print(f"  {done:>10,} calls  {samples[-1].rss / 1024:7.1f} MB", file=sys.stderr, flush=True)
            took = time.monotonic() - began
            end_rss = rss_kb(pid)
        finally:
            stop_popen(process)
        if alive(process.pid):
            raise RuntimeError(f"the host (pid {process.pid}) is still running")
    return report(args, started_rss, samples, end_rss, took)


def report(args, started_rss, samples, end_rss, took):
    window = min(args.window, max(1, len(samples) // 2))
    baseline = statistics.median(sample.rss for sample in samples[:window])
    end = statistics.median(sample.rss for sample in samples[-window:])
    growth = (end - baseline) / baseline * 100
    heap_start = statistics.median(sample.heap_used for sample in samples[:window])
    heap_end = statistics.median(sample.heap_used for sample in samples[-window:])
    peak = max(sample.rss for sample in samples)
    calls_per_second = (args.calls + args.warm_up) / took
    print(f"soak: {args.calls:,} calls of hello(name) through Function.call, {args.threads} thread(s), "
          f"after {args.warm_up:,} warm-up calls{'; a full GC before each sample' if args.gc else ''}; "
          f"node {node_version()}, Python {sys.version.split()[0]}")  # fmt: skip
    print(f"host RSS at start (before warm-up): {started_rss / 1024:.1f} MB")
    print()
    print(
        f"{'calls':>12} {'RSS MB':>8} {'vs baseline':>12} {'heap used MB':>13} {'heap total MB':>14} {'elapsed s':>10}"
    )
    for sample in samples:
        print(
            f"{sample.calls:>12,} {sample.rss / 1024:>8.1f} {(sample.rss - baseline) / baseline * 100:>+11.1f}% "
            f"{sample.heap_used / 1024:>13.1f} {sample.heap_total / 1024:>14.1f} {sample.seconds:>10.1f}"
        )
    print()
    print(f"baseline (median of first {window} samples): {baseline / 1024:.1f} MB")
    print(f"end      (median of last {window} samples):  {end / 1024:.1f} MB")
    print(f"peak sample: {peak / 1024:.1f} MB; RSS after the last call: {end_rss / 1024:.1f} MB")
    print(f"V8 heap used (same medians): {heap_start / 1024:.1f} MB -> {heap_end / 1024:.1f} MB")
    print(f"growth: {growth:+.1f}% (limit {args.limit:g}%); {calls_per_second:,.0f} calls/s over {took:.0f} s")
    verdict = "PASS" if growth <= args.limit else "MISS"
    print(f"{verdict}: host RSS growth {growth:+.1f}% {'<=' if verdict == 'PASS' else '>'} {args.limit:g}%")
    return 0 if verdict == "PASS" else 1


def node_version():
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls after the warm-up (default 1,000,000)")
    parser.add_argument("--warm-up", type=int, default=10_000, help="calls before the first sample (default 10,000)")
    parser.add_argument("--threads", type=int, default=1, help="threads making the calls (default 1)")
    parser.add_argument("--sample-every", type=int, default=None, help="calls between samples (default: calls / 40)")
    parser.add_argument("--window", type=int, default=5, help="samples in each median (default 5)")
    parser.add_argument("--limit", type=float, default=10.0, help="allowed growth in %% (default 10)")
    parser.add_argument(
        "--gc", action="store_true", help="force a full V8 collection before each sample (node --expose-gc)"
    )
    parser.add_argument("--progress", action="store_true", help="print each sample as it is taken, on stderr")
    args = parser.parse_args(argv)
    if args.sample_every is None:
        args.sample_every = max(1000, args.calls // 40)
    return soak(args)


if __name__ == "__main__":
    sys.exit(main())
