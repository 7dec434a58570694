"""Stopping processes by PID, shared by the tests and the benchmarks.

Never by name: another user's or another project's node must not be touched.
"""

import os
import signal
import subprocess
import time
from pathlib import Path


def alive(pid):
    """True if ``pid`` runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def children_of(pid):
    """PIDs of the live child processes of ``pid`` (Linux /proc)."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children += [int(child) for child in task.read_text().split()]
        except OSError:
            pass
    return children


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def stop_by_pid(pid, timeout=10):
    """SIGTERM ``pid``, and SIGKILL it if it has not gone within ``timeout`` seconds."""
    if pid and alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not alive(pid), timeout=timeout):
            os.kill(pid, signal.SIGKILL)


def stop_popen(process, timeout=10, close_streams=True):
    """Stop a child we started (SIGTERM, then SIGKILL), reap it, and close its pipes."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    for stream in (process.stdin, process.stdout, process.stderr) if close_streams else ():
        if stream:
            stream.close()
    return process.returncode


def cpu_seconds(pid):
    """CPU time (user + system) ``pid`` has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5), counted after "pid (comm)".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
