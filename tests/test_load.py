"""Load, with real processes: many threads on one host, several Python processes on one
managed host. Every call echoes a unique id, so an answer that went to the wrong caller,
or a call answered twice or never, shows.

The issue's numbers: 8 threads x 10,000 calls, and 4 Python processes sharing one managed
host. The soak (1,000,000 calls, host RSS sampled) is benchmarks/soak.py, not part of the
test run.
"""

import json
import re
import threading
import time
import uuid
from pathlib import Path

from django_js_host.function import Function

from .support.managers import runtime_dir  # noqa: F401 (fixture)
from .support.processes import stop_popen, wait_until
from .test_faults import (  # noqa: F401 (fixtures)
    faults_project,
    js_host,
    managed_faults,
    python_process,
    quiet_host,
)

THREADS = 8
CALLS_PER_THREAD = 10_000
PROCESSES = 4
CALLS_PER_PROCESS = 10_000


def test_eight_threads_of_ten_thousand_calls_each_get_their_own_answers(tmp_path):
    run = uuid.uuid4().hex
    with quiet_host(tmp_path) as host:
        echo = Function("echo", host=js_host(host.config_file), timeout=30)
        assert echo.call_json(id="warm-up") == {"id": "warm-up"}
        start = threading.Barrier(THREADS)
        answered = [0] * THREADS
        crossed, errors = [], []

        def worker(thread_number):
            try:
                start.wait()
                for call_number in range(CALLS_PER_THREAD):
                    sent = f"{run}:{thread_number}:{call_number}"
                    answer = echo.call_json(id=sent)
                    if answer != {"id": sent}:
                        crossed.append((sent, answer))
                    answered[thread_number] += 1
            except Exception as error:  # reported below, with the thread that raised it
                errors.append((thread_number, repr(error)))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
        rate = THREADS * CALLS_PER_THREAD / took
        print(f"\n{THREADS} threads x {CALLS_PER_THREAD} calls: {took:.1f} s, {rate:,.0f} calls/s")
        assert errors == []
        assert crossed == []
        assert answered == [CALLS_PER_THREAD] * THREADS
        # The host's side of it: one log line per call, each answered once with a 200.
        total = THREADS * CALLS_PER_THREAD + 1
        assert wait_until(lambda: host.stdout.count(" echo 200 ") >= total, timeout=10)
        assert host.stdout.count(" echo 200 ") == total
        assert not re.search(r" echo (?!200 )\d{3} ", host.stdout)
        assert host.process.poll() is None


WORKER = """
import json, sys
from django_js_host.function import Function
run, number, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
echo = Function("echo", timeout=30)
crossed = []
for call_number in range(calls):
    sent = f"{run}:{number}:{call_number}"
    answer = echo.call_json(id=sent)
    if answer != {"id": sent}:
        crossed.append([sent, answer])
print(json.dumps({"host": Function("pid").call_json(), "answered": calls, "crossed": crossed[:10]}))
"""


def test_four_python_processes_share_one_managed_host_and_get_their_own_answers(
    managed_faults, faults_project, runtime_dir
):
    from django_js_host.host import host

    # This process holds the host, so it cannot stop between two workers.
    host_pid = Function("pid").call_json()
    run = uuid.uuid4().hex
    workers = [
        python_process(
            f"import sys\nsys.argv[1:] = {[run, str(n), str(CALLS_PER_PROCESS)]!r}\n" + WORKER,
            faults_project,
            runtime_dir,
        )
        for n in range(PROCESSES)
    ]
    started = time.monotonic()
    try:
        outputs = [worker.communicate(timeout=180) for worker in workers]
    finally:
        for worker in workers:
            stop_popen(worker)
    took = time.monotonic() - started
    print(f"\n{PROCESSES} processes x {CALLS_PER_PROCESS} calls: {took:.1f} s")
    assert [worker.returncode for worker in workers] == [0] * PROCESSES, [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    assert [report["crossed"] for report in reports] == [[]] * PROCESSES
    assert [report["answered"] for report in reports] == [CALLS_PER_PROCESS] * PROCESSES
    assert {report["host"] for report in reports} == {host_pid}  # one host for all
    # Each worker's connection was counted, and released as it exited.
    assert wait_until(lambda: managed_faults.host_status(host.config_file)["connections"] == 1)
    assert Function("pid").call_json() == host_pid
    # The host's side: each call answered once, with a 200 (its logfile is this test's own).
    logfile = Path(host.logfile)
    assert wait_until(lambda: logfile.read_text().count(" echo 200 ") >= PROCESSES * CALLS_PER_PROCESS, timeout=10)
    assert logfile.read_text().count(" echo 200 ") == PROCESSES * CALLS_PER_PROCESS
    assert not re.search(r" echo (?!200 )\d{3} ", logfile.read_text())
