"""What a call costs through django_js_host, next to the raw HTTP floor and other ways to run JS.

    .venv/bin/python benchmarks/calls.py [--rounds 5] [--seconds 0.4] [--quick]
    .venv/bin/python benchmarks/calls.py --profile     # where ours spends its time vs the floor

Prints machine info and ONE table of medians (min-max over rounds), measured side by side in
one run, for five workloads:

1. trivial       hello(name) -> str, latency per call; also over Unix sockets (ours and a
                 floor of its own), next to the TCP rows
2. ~100 KB       1,000 objects sent and sent back with a small change (~100 KB of JSON each
                 way), latency per call; every answer is decoded and compared with the
                 expected one, outside the clock
3. 8 threads     trivial calls from 8 threads of this process, total calls/s
4. 4 processes   trivial calls from 4 spawned processes to one host, total calls/s
5. batch         1,000 trivial calls as 1,000 single calls (floor, ours) and as one
                 Function.batch (ours), ms per 1,000 calls, answers checked

Contestants, all running the JS functions of benchmarks/functions.js:

* floor        benchmarks/floor_server.js (node:http, JSON.parse, the function,
               Content-Length), called with http.client on one kept-alive connection per
               thread: the raw cost of "HTTP + JSON to Node", no library
* ours         Function(name).call / .call_json against a real host (js-host.js --json)
               started here from a temp host.config.js on a free loopback port, unmanaged
* socket rows  (trivial workload only) the same two over a Unix socket: the floor server on
               a socket, called with http.client over AF_UNIX; and ours through
               Function(name, host=JSHost(...)).call() to a second host whose config says
               `socket: ...` (Python finds it from the config, as in production)
* requests     requests.Session (one per thread) to the floor server
* JSPyBridge   PyPI `javascript`: require() functions.js in its Node bridge
* mini-racer   V8 inside this process: eval functions.js once, then ctx.call (one context
               per thread in the threads workload)
* PyExecJS     PyPI `PyExecJS` with its Node runtime: compile once, ctx.call (a node process
               per call, so only a few calls)

Each round runs every workload; in a workload each contestant runs one block of calls (a
count fixed per contestant after warm-up, about --seconds of work), in an order rotated each
round so drift hits every contestant alike. Ratios are medians of per-round ratios, paired
within a round. A peer that is not installed, or fails, is reported in its row. Every process
started here (host, floor server, JSPyBridge's node, workers) is stopped here by PID in
finally blocks, and checked by PID afterwards.
"""

import argparse
import cProfile
import datetime
import hashlib
import http.client
import importlib.metadata
import io
import json
import math
import multiprocessing
import os
import platform
import pstats
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.support.processes import alive, stop_popen  # noqa: E402 (needs REPO on sys.path)

FUNCTIONS_JS = HERE / "functions.js"
FLOOR_SERVER_JS = HERE / "floor_server.js"
NODE = "node"
THREADS = 8
PROCESSES = 4
JSON_HEADERS = {"Content-Type": "application/json"}
START_TIMEOUT = 30.0

HOST_CONFIG = """\
// Written by benchmarks/calls.py: the functions of functions.js, in the host's callback style.
const fns = require({functions});
module.exports = {{
  {listen},
  functions: {{
    hello(data, cb) {{ cb(null, fns.hello(data)); }},
    transform(data, cb) {{ cb(null, fns.transform(data)); }},
  }},
}};
"""

TARGETS = {
    # workload: [(label, row it is shown on, row it compares with, limit, kind)]
    "trivial": [
        ("<=1.2x floor", "ours", "floor", 1.2, "max"),
        ("<=JSPyBridge", "ours", "jspybridge", 1.0, "max"),
        # The trust-boundary issue: a trivial call over a socket <= 0.6x the TCP floor; its
        # ratio to the socket floor is shown without a target.
        ("<=0.6x floor", "ours_socket", "floor", 0.6, "max"),
        ("x socket floor", "ours_socket", "floor_socket", None, "info"),
    ],
    "payload": [("<=1.1x floor", "ours", "floor", 1.1, "max"), ("<=mini-racer", "ours", "miniracer", 1.0, "max")],
    "threads": [(">=0.9x floor", "ours", "floor", 0.9, "min")],
    "batch": [("<=0.1x single calls", "ours_batch", "ours", 0.1, "max")],
}
BATCH_SIZE = 1000


class Unavailable(Exception):
    """A contestant that cannot run here: not installed, or not able to do a workload."""


# ---------------------------------------------------------------------------------------
# The work


def embedded_source():
    """functions.js as a plain script (for runtimes without require()): defines global `fns`."""
    return (
        "var fns = (function () {\nvar module = {exports: {}}, exports = module.exports;\n"
        + FUNCTIONS_JS.read_text()
        + "\nreturn module.exports;\n})();\n"
    )


def make_items(count=1000):
    """The ~100 KB payload: `count` small objects {id, name, tags, score}."""
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    return [
        {
            "id": i,
            "name": f"item {i:05d} {words[i % 8]} {words[(i * 3) % 8]}",
            "tags": [words[(i + k) % 8] for k in range(4)],
            "score": (i % 400) * 0.25,  # quarters: exact in binary, so +1 in JS is exact too
        }
        for i in range(count)
    ]


def transformed(items):
    """What functions.js's transform answers for `items`."""
    return [
        {"id": o["id"], "name": o["name"].upper(), "tags": o["tags"], "score": o["score"] + 1}
        for o in items
    ]


class WrongAnswer(AssertionError):
    pass


def trivial_block(call, n, name="bench"):
    """Seconds per call of `n` trivial calls (every answer checked, inside the clock: ~30 ns)."""
    expected = "Hello, " + name
    started = time.perf_counter()
    for _ in range(n):
        if call(name) != expected:
            raise WrongAnswer(f"hello answered {call(name)!r}, not {expected!r}")
    return (time.perf_counter() - started) / n


def thousand_block(call_all, n):
    """Seconds per BATCH_SIZE trivial calls made by ``call_all(names) -> answers``, n times."""
    names = [f"bench {i}" for i in range(BATCH_SIZE)]
    expected = ["Hello, " + name for name in names]
    started = time.perf_counter()
    for _ in range(n):
        if call_all(names) != expected:
            raise WrongAnswer(f"{BATCH_SIZE} hello calls did not answer each its own name")
    return (time.perf_counter() - started) / n


def payload_block(call, n, items, expected):
    """Seconds per call of `n` ~100 KB calls; each decoded answer is compared outside the clock."""
    total = 0.0
    for _ in range(n):
        started = time.perf_counter()
        result = call(items)
        total += time.perf_counter() - started
        if result != expected:
            raise WrongAnswer(f"transform answered a {type(result).__name__} that differs from the expected list")
    return total / n


# Node's JIT needs a few thousand calls on a path (about a second here) before a server runs
# at full speed; the host's ?hash= path warms on its own. So every contestant warms up for
# WARM_UP_CALLS calls (at least WARM_UP_SECONDS, at most MAX_WARM_UP_SECONDS), even --quick.
WARM_UP_CALLS = {"trivial": 4000, "payload": 100}
WARM_UP_SECONDS = 0.3
MAX_WARM_UP_SECONDS = 2.0
LEAD_IN_CALLS = 200  # at most, before each timed block; a tenth of the block


def calibrate(block, seconds, min_calls, max_calls, warm_up_calls):
    """Warm up (connect, JIT), then the call count of a block of about `seconds`."""
    per_call = block(1)  # connects: ours' first call also reads the config and checks the host
    per_call = block(max(1, min(max_calls, int(0.05 / per_call))))
    warm_up = min(MAX_WARM_UP_SECONDS, max(WARM_UP_SECONDS, warm_up_calls * per_call))
    per_call = block(max(1, int(min(max_calls, warm_up_calls, warm_up / per_call))))
    return max(min_calls, min(max_calls, round(seconds / per_call)))


# ---------------------------------------------------------------------------------------
# Processes: every one we start is stopped by PID and checked by PID


class Processes:
    """Every process this run starts, stopped by PID (last started, first stopped)."""

    def __init__(self):
        self.started = []  # (label, pid, stop)

    def add(self, label, pid, stop):
        self.started.append((label, pid, stop))

    def add_popen(self, label, process, close_streams=True):
        self.add(label, process.pid, lambda: stop_popen(process, close_streams=close_streams))

    def stop_all(self):
        """Stop everything; return the (label, pid) of any process still alive after that."""
        for label, pid, stop in reversed(self.started):
            try:
                stop()
            except Exception as error:  # keep stopping the others
                print(f"warning: stopping {label} (pid {pid}): {error!r}", file=sys.stderr)
        left = [(label, pid) for label, pid, _ in self.started if alive(pid)]
        # Anything else still our child (say a PyExecJS node cut short): ours, so stop it by PID.
        for pid in children_of(os.getpid()):
            if pid not in {p for _, p, _ in self.started}:
                kill_pid(pid)
                if alive(pid):
                    left.append(("unexpected child", pid))
        return left


def kill_pid(pid):
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def children_of(parent):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().split(") ", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_line(process, path, what):
    """Wait for the first line `process` writes to the file `path` (its stdout)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = path.read_text()
        if "\n" in text:
            return text.split("\n", 1)[0]
        if process.poll() is not None:
            break
        time.sleep(0.01)
    raise RuntimeError(f"{what} did not start: {path.read_text()!r} {path.with_suffix('.err').read_text()!r}")


def start_node(processes, label, args, directory, name):
    """Start `node args...` with stdout and stderr in files of `directory`; return (Popen, first line).

    Files, not pipes: the host logs one line per call, and a pipe nobody reads would fill
    and stop it.
    """
    out = Path(directory) / f"{name}.out"
    err = out.with_suffix(".err")
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen([NODE, *map(str, args)], stdout=stdout, stderr=stderr, cwd=directory)
    processes.add_popen(label, process)
    return process, first_line(process, out, label)


class Run:
    """The host and the floor server of one run, in a temp dir."""

    def __init__(self, directory, processes):
        from django_js_host.conf import PACKAGED_BIN

        self.project = Path(directory)
        self.processes = processes
        functions = json.dumps(str(FUNCTIONS_JS))
        self.config_file = self.project / "host.config.js"
        self.config_file.write_text(HOST_CONFIG.format(functions=functions, listen=f"port: {free_port()}"))
        self.host_process, line = start_node(
            processes, "host", [PACKAGED_BIN, self.config_file, "--json"], directory, "host"
        )
        self.host_port = json.loads(line)["config"]["port"]
        self.floor_process, line = start_node(processes, "floor server", [FLOOR_SERVER_JS, 0], directory, "floor")
        self.floor_port = json.loads(line)["port"]
        # The socket rows: a second host, whose config names its socket (Python reads it
        # from there), and the floor server again, on a socket. Both sockets in the temp dir.
        self.socket_config_file = self.project / "socket.config.js"
        socket_path = json.dumps(str(self.project / "host.sock"))
        self.socket_config_file.write_text(HOST_CONFIG.format(functions=functions, listen=f"socket: {socket_path}"))
        self.socket_host_process, line = start_node(
            processes, "socket host", [PACKAGED_BIN, self.socket_config_file, "--json"], directory, "socket-host"
        )
        self.host_socket = json.loads(line)["config"]["socket"]
        self.floor_socket = str(self.project / "floor.sock")
        self.floor_socket_process, line = start_node(
            processes, "socket floor server", [FLOOR_SERVER_JS, self.floor_socket], directory, "socket-floor"
        )

    def specs(self):
        """What a worker process needs to make ours and the floor's callers."""
        return {"project": str(self.project), "config_file": str(self.config_file), "floor_port": self.floor_port}


# ---------------------------------------------------------------------------------------
# Contestants


class Contestant:
    key = label = ""
    is_peer = True  # competes for "x best peer"
    threads_label = None  # a different label in the threads workload, if any
    warm_up_calls = None  # fewer warm-up calls than WARM_UP_CALLS, when there is nothing to warm
    trivial_only = False  # a row in the trivial workload only (the socket rows)

    def open(self, run):
        """Get ready (import, connect, compile); raise Unavailable if it cannot run here."""

    def hello_caller(self):
        """A function name -> 'Hello, name', for the calling thread."""
        raise NotImplementedError

    def transform_caller(self):
        """A function items -> the decoded transformed list, for the calling thread."""
        raise NotImplementedError

    def close(self):
        pass


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket: the socket floor's client. Only connect() differs."""

    def __init__(self, socket_path):
        super().__init__("localhost")  # the Host header; a socket has no name
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class FloorClient:
    """The floor's Python side: http.client on one kept-alive connection, JSON in and out.

    A port: TCP to 127.0.0.1; a str: the path of a Unix socket.
    """

    def __init__(self, port_or_socket):
        if isinstance(port_or_socket, str):
            self.connection = UnixHTTPConnection(port_or_socket)
        else:
            self.connection = http.client.HTTPConnection("127.0.0.1", port_or_socket)

    def post(self, name, kwargs):
        self.connection.request("POST", "/function/" + name, json.dumps(kwargs).encode(), JSON_HEADERS)
        return self.connection.getresponse().read()

    def close(self):
        self.connection.close()


class Floor(Contestant):
    key, label, is_peer = "floor", "floor    http.client -> node:http", False

    def open(self, run):
        self.port = run.floor_port
        self.clients = []

    def _post(self):
        client = FloorClient(self.port)
        self.clients.append(client)
        return client.post

    def hello_caller(self):
        post = self._post()
        return lambda name: post("hello", {"name": name}).decode()

    def transform_caller(self):
        post = self._post()
        return lambda items: json.loads(post("transform", {"items": items}))

    def close(self):
        for client in self.clients:
            client.close()


class FloorSocket(Floor):
    key, label = "floor_socket", "floor    socket: http.client AF_UNIX"
    trivial_only = True

    def open(self, run):
        super().open(run)
        self.port = run.floor_socket  # FloorClient takes a socket path as well as a port


def configure_ours(project, config_file):
    from django_js_host.conf import settings

    settings.configure(CONFIG_FILE=str(config_file), SOURCE_ROOT=str(project), VERBOSITY="SILENT")


class Ours(Contestant):
    key, label, is_peer = "ours", "ours     Function.call / call_json", False

    def open(self, run):
        configure_ours(run.project, run.config_file)
        from django_js_host.function import Function

        # Made once, like a module-level constant; Function() itself costs ~0.3 us.
        self.hello = Function("hello")
        self.transform = Function("transform")

    def hello_caller(self):
        hello = self.hello
        return lambda name: hello.call(name=name)

    def hello_batch_caller(self):
        """names -> their answers, in one Function.batch."""
        hello = self.hello
        return lambda names: hello.batch([{"name": name} for name in names])

    def transform_caller(self):
        transform = self.transform
        return lambda items: transform.call_json(items=items)

    def close(self):
        from django_js_host.host import host

        host.reset()


class OursSocket(Ours):
    key, label = "ours_socket", "ours     socket: Function.call"
    trivial_only = True

    def open(self, run):
        configure_ours(run.project, run.config_file)
        from django_js_host.function import Function
        from django_js_host.host import JSHost

        # A host you run, found from its config file (`socket: ...`), as in production.
        self.host = JSHost(config_file=str(run.socket_config_file))
        self.hello = Function("hello", host=self.host)

    def close(self):
        self.host.reset()


class Requests(Contestant):
    key, label = "requests", "requests.Session -> floor server"

    def open(self, run):
        try:
            import requests
        except ImportError:
            raise Unavailable("not installed") from None
        self.requests = requests
        self.url = f"http://127.0.0.1:{run.floor_port}/function/"
        self.sessions = []

    def _post(self):
        session = self.requests.Session()
        self.sessions.append(session)
        return session.post

    def hello_caller(self):
        post, url = self._post(), self.url + "hello"
        return lambda name: post(url, json={"name": name}).text

    def transform_caller(self):
        post, url = self._post(), self.url + "transform"
        return lambda items: post(url, json={"items": items}).json()

    def close(self):
        for session in self.sessions:
            session.close()


class JSPyBridge(Contestant):
    key, label = "jspybridge", "JSPyBridge  require(functions.js)"

    def open(self, run):
        try:
            import javascript  # starts its node bridge on import
            from javascript import connection
        except ImportError:
            raise Unavailable("not installed") from None
        self.connection = connection
        # Kept: when a proxy is collected its JS object is freed, and the function proxies
        # below are looked up on this one at each call.
        self.module = module = javascript.require(str(FUNCTIONS_JS))
        # The bridge's node is started by a thread of the library: known once require() answered.
        # Its pipes stay the library's: a thread of it may still be reading them.
        run.processes.add_popen("JSPyBridge node", connection.proc, close_streams=False)
        # Function proxies fetched once: each attribute access is a round trip of its own.
        self.hello = module.hello
        self.transform = module.transform

    def hello_caller(self):
        hello = self.hello
        return lambda name: hello({"name": name})

    def transform_caller(self):
        transform = self.transform
        # An object comes back as a proxy; valueOf() fetches its JSON (a second round trip).
        return lambda items: transform({"items": items}).valueOf()


class MiniRacer(Contestant):
    key, label = "miniracer", "mini-racer  ctx.call, in-process V8"
    threads_label = "mini-racer  a context per thread"

    def open(self, run):
        try:
            from py_mini_racer import MiniRacer as context_class
        except ImportError:
            try:
                from mini_racer import MiniRacer as context_class
            except ImportError:
                raise Unavailable("not installed") from None
        self.context_class = context_class
        self.source = embedded_source()
        self.local = threading.local()
        self.contexts = []

    def _call(self):
        # Contexts are not shared across threads: each thread gets its own V8 context.
        context = getattr(self.local, "context", None)
        if context is None:
            context = self.local.context = self.context_class()
            self.contexts.append(context)
            context.eval(self.source)
        return context.call

    def hello_caller(self):
        call = self._call()
        return lambda name: call("fns.hello", {"name": name})

    def transform_caller(self):
        call = self._call()
        return lambda items: call("fns.transform", {"items": items})

    def close(self):
        # An open context keeps the interpreter from exiting (mini-racer 0.14).
        for context in self.contexts:
            context.close()


class PyExecJS(Contestant):
    key, label = "pyexecjs", "PyExecJS  Node runtime, node per call"
    warm_up_calls = 2  # a fresh node process each call: nothing stays warm

    def open(self, run):
        try:
            import execjs
        except ImportError:
            raise Unavailable("not installed") from None
        try:
            runtime = execjs.get(execjs.runtime_names.Node)
        except execjs.RuntimeUnavailableError as error:
            raise Unavailable(f"no Node runtime: {error}") from None
        self.context = runtime.compile(embedded_source())

    def hello_caller(self):
        call = self.context.call
        return lambda name: call("fns.hello", {"name": name})

    def transform_caller(self):
        call = self.context.call
        return lambda items: call("fns.transform", {"items": items})


CONTESTANTS = [Floor, Ours, FloorSocket, OursSocket, Requests, JSPyBridge, MiniRacer, PyExecJS]
PROCESS_CONTESTANTS = ["floor", "ours"]


# ---------------------------------------------------------------------------------------
# Threads and processes


class ThreadGang:
    """THREADS threads kept for the whole run, so each keeps its connections between rounds."""

    def __init__(self, size=THREADS):
        self.size = size
        self.barrier = threading.Barrier(size)
        self.inboxes = [queue.SimpleQueue() for _ in range(size)]
        self.outbox = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._serve, args=(index,), name=f"bench-{index}", daemon=True)
            for index in range(size)
        ]
        for thread in self.threads:
            thread.start()

    def _serve(self, index):
        callers = {}
        name = f"t{index}"  # a name per thread: an answer crossing threads is caught
        expected = "Hello, " + name
        while (task := self.inboxes[index].get()) is not None:
            contestant, n = task
            try:
                call = callers.get(contestant.key)
                if call is None:
                    call = callers[contestant.key] = contestant.hello_caller()
                trivial_block(call, 1, name)  # a fresh connection connects before the clock
                self.barrier.wait()
                started = time.perf_counter()
                for _ in range(n):
                    if call(name) != expected:
                        raise WrongAnswer(f"thread {index} got {call(name)!r}, not {expected!r}")
                self.outbox.put((started, time.perf_counter(), None))
            except BaseException as error:
                self.barrier.abort()
                self.outbox.put((None, None, error))

    def run(self, contestant, n):
        """Total calls/s of `n` trivial calls from each thread, all started together."""
        for inbox in self.inboxes:
            inbox.put((contestant, n))
        results = [self.outbox.get() for _ in range(self.size)]
        errors = [error for _, _, error in results if error is not None]
        if errors:
            self.barrier.reset()
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
        return self.size * n / (max(end for _, end, _ in results) - min(start for start, _, _ in results))

    def close(self):
        for inbox in self.inboxes:
            inbox.put(None)
        for thread in self.threads:
            thread.join(10)


def _process_worker(connection, specs):
    """A worker of the processes workload, in a spawned process: trivial calls on command."""
    try:
        configure_ours(specs["project"], specs["config_file"])
        from django_js_host.function import Function

        hello = Function("hello")
        floor = FloorClient(specs["floor_port"])
        callers = {
            "ours": lambda name: hello.call(name=name),
            "floor": lambda name: floor.post("hello", {"name": name}).decode(),
        }
        for call in callers.values():
            trivial_block(call, 20)
        connection.send(("ready", os.getpid()))
        while (task := connection.recv()) is not None:
            key, n, start_at, name = task
            call = callers[key]
            time.sleep(max(0.0, start_at - time.perf_counter()))
            trivial_block(call, 1, name)
            started = time.perf_counter()
            trivial_block(call, n, name)
            connection.send((started, time.perf_counter()))
        floor.close()
    except BaseException:
        connection.send(("error", traceback.format_exc()))


class ProcessGang:
    """PROCESSES spawned worker processes kept for the whole run."""

    def __init__(self, specs, processes, size=PROCESSES):
        context = multiprocessing.get_context("spawn")
        self.connections = []
        first = len(processes.started)
        for index in range(size):
            parent_end, child_end = context.Pipe()
            worker = context.Process(
                target=_process_worker, args=(child_end, specs), name=f"bench-worker-{index}", daemon=True
            )
            worker.start()
            child_end.close()
            processes.add(f"worker {index}", worker.pid, lambda w=worker, c=parent_end: self._stop(w, c))
            self.connections.append(parent_end)
        self._track_resource_tracker(processes, first)
        for connection in self.connections:
            if not connection.poll(120):
                raise RuntimeError("a worker process did not get ready within 120 s")
            answer = connection.recv()
            if answer[0] != "ready":
                raise RuntimeError(f"a worker process failed:\n{answer[1]}")

    @staticmethod
    def _track_resource_tracker(processes, index):
        # The spawn start method starts multiprocessing's resource tracker: ours to stop too,
        # after the workers (it exits once every holder of its pipe has closed it).
        from multiprocessing import resource_tracker

        tracker = resource_tracker._resource_tracker
        if getattr(tracker, "_pid", None):
            processes.started.insert(index, ("resource tracker", tracker._pid, tracker._stop))

    @staticmethod
    def _stop(worker, connection):
        if worker.is_alive():
            try:
                connection.send(None)
            except OSError:
                pass
            worker.join(10)
        if worker.is_alive():
            os.kill(worker.pid, signal.SIGTERM)
            worker.join(5)
        if worker.is_alive():
            os.kill(worker.pid, signal.SIGKILL)
            worker.join()
        connection.close()

    def run(self, key, n):
        start_at = time.perf_counter() + 0.05
        for index, connection in enumerate(self.connections):
            connection.send((key, n, start_at, f"p{index}"))
        results = []
        for connection in self.connections:
            answer = connection.recv()
            if answer[0] == "error":
                raise RuntimeError(f"worker failed:\n{answer[1]}")
            results.append(answer)
        return len(results) * n / (max(end for _, end in results) - min(start for start, _ in results))


# ---------------------------------------------------------------------------------------
# The benchmark


class Row:
    """A contestant's line in one workload: its samples, or why it has none."""

    def __init__(self, contestant, label=None):
        self.key = contestant.key
        self.label = label or contestant.label
        self.is_peer = contestant.is_peer
        self.calls = None  # calls per block (per thread / process in those workloads)
        self.samples = []
        self.status = None  # why there are no numbers

    def fail(self, error):
        first_line = (str(error).splitlines() or [""])[0]
        self.status = f"failed: {type(error).__name__}: {first_line}"[:90]


class Workload:
    """One row group: a row per contestant, and per measured row a function n -> one sample."""

    def __init__(self, key, title, kind):
        self.key, self.title, self.kind = key, title, kind  # kind: "latency" or "rate"
        self.rows = {}
        self.runnable = {}  # key -> function(n) returning one sample

    def add(self, contestant, status=None, label=None, key=None):
        row = Row(contestant, label)
        if key:
            row.key = key
        self.rows[row.key] = row
        row.status = status
        return row

    def round(self, index):
        keys = list(self.runnable)
        if not keys:
            return
        shift = index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            row = self.rows[key]
            if row.status is not None:
                continue
            try:
                # An untimed lead-in: a server that sat idle while the others ran starts cold
                # (caches, JIT state), and the host serves only ours while the floor server
                # also serves requests.
                self.runnable[key](max(1, min(LEAD_IN_CALLS, row.calls // 10)))
                row.samples.append(self.runnable[key](row.calls))
            except Exception as error:
                row.fail(error)


def build_workloads(contestants, unavailable, args, gang, process_gang):
    """Warm every contestant up in every workload it can do, and fix its calls per block."""
    seconds, min_calls = args.seconds, args.min_calls
    items = make_items()
    expected = transformed(items)
    payload_bytes = len(json.dumps({"items": items}).encode())
    answer_bytes = len(json.dumps(expected, separators=(",", ":")).encode())
    trivial = Workload("trivial", "1. trivial hello(name) -> str, ms per call", "latency")
    payload = Workload(
        "payload",
        f"2. {payload_bytes / 1000:.0f} KB JSON in, {answer_bytes / 1000:.0f} KB out (1,000 objects), "
        "ms per call, answers checked",
        "latency",
    )
    threads = Workload("threads", f"3. {THREADS} threads, trivial calls, total calls/s", "rate")
    procs = Workload("processes", f"4. {PROCESSES} processes (spawn), one host, trivial calls, total calls/s", "rate")
    batch = Workload(
        "batch", f"5. {BATCH_SIZE:,} trivial calls, ms per {BATCH_SIZE:,} calls, answers checked", "latency"
    )
    workloads = [trivial, payload, threads, procs, batch]

    per_call = {}
    for contestant in contestants:
        key = contestant.key
        status = unavailable.get(key)
        if status:
            for workload in workloads[: 1 if contestant.trivial_only else 3]:
                workload.add(contestant, status=status)
            if key in PROCESS_CONTESTANTS:
                procs.add(contestant, status=status)
            continue
        # 1. trivial
        row = trivial.add(contestant)
        try:
            call = contestant.hello_caller()
            warm_up = min(WARM_UP_CALLS["trivial"], contestant.warm_up_calls or math.inf)
            row.calls = calibrate(lambda n, call=call: trivial_block(call, n), seconds, min_calls, 100_000, warm_up)
            per_call[key] = trivial_block(call, min(row.calls, 50))
            trivial.runnable[key] = lambda n, call=call: trivial_block(call, n)
        except Exception as error:
            row.fail(error)
        if contestant.trivial_only:
            continue
        # 2. ~100 KB
        row = payload.add(contestant)
        try:
            call = contestant.transform_caller()
            warm_up = min(WARM_UP_CALLS["payload"], contestant.warm_up_calls or math.inf)
            block = lambda n, call=call: payload_block(call, n, items, expected)  # noqa: E731
            row.calls = calibrate(block, seconds, min_calls, 10_000, warm_up)
            payload.runnable[key] = lambda n, call=call: payload_block(call, n, items, expected)
        except Exception as error:
            row.fail(error)
        # 3. threads
        row = threads.add(contestant, label=contestant.threads_label)
        if key in per_call:
            try:
                guess = max(min_calls, round(seconds / 2 / (per_call[key] * THREADS)))
                rate = gang.run(contestant, guess)
                row.calls = max(min_calls, round(seconds * rate / THREADS))
                threads.runnable[key] = lambda n, contestant=contestant: gang.run(contestant, n)
            except Exception as error:
                row.fail(error)
        else:
            row.status = "skipped: no trivial calls"
        # 4. processes
        if key in PROCESS_CONTESTANTS:
            row = procs.add(contestant)
            try:
                guess = max(min_calls, round(seconds / 2 / (per_call[key] * PROCESSES)))
                rate = process_gang.run(key, guess)
                row.calls = max(min_calls, round(seconds * rate / PROCESSES))
                procs.runnable[key] = lambda n, key=key: process_gang.run(key, n)
            except Exception as error:
                row.fail(error)
        # 5. batch: single calls of floor and ours, and ours in one batch
        if key in PROCESS_CONTESTANTS and key in per_call:
            add_thousand_row(batch, contestant, contestant.hello_caller(), seconds)
            if key == "ours":
                label = "ours     Function.batch, one request"
                add_thousand_row(batch, contestant, contestant.hello_batch_caller(), seconds, label, "ours_batch")
    return workloads


def add_thousand_row(workload, contestant, call, seconds, label=None, key=None):
    """A batch-workload row: ``call`` answers one name, or with ``key`` a list of names."""
    row = workload.add(contestant, label=label or f"{contestant.key:<9}{BATCH_SIZE:,} single calls", key=key)
    call_all = call if key else (lambda names: [call(name) for name in names])
    try:
        row.calls = calibrate(lambda n: thousand_block(call_all, n), seconds, 2, 1000, 5)
        workload.runnable[row.key] = lambda n: thousand_block(call_all, n)
    except Exception as error:
        row.fail(error)


def summarize(workload):
    """Per row: (median, min, max, x floor, x best peer); ratios are medians of per-round ratios."""
    rows = workload.rows
    measured = {key: row.samples for key, row in rows.items() if row.status is None and row.samples}
    rounds = min((len(s) for s in measured.values()), default=0)
    peers = [key for key in measured if rows[key].is_peer]
    best = None
    if peers:
        choose = min if workload.kind == "latency" else max
        best = choose(peers, key=lambda key: statistics.median(measured[key]))

    def ratio(key, other):
        if key not in measured or other not in measured:
            return None
        a, b = measured[key][:rounds], measured[other][:rounds]
        return statistics.median(x / y for x, y in zip(a, b, strict=False)) if rounds else None

    summary = {}
    for key, samples in measured.items():
        summary[key] = {
            "median": statistics.median(samples),
            "min": min(samples),
            "max": max(samples),
            "x floor": ratio(key, "floor"),
            "x best peer": ratio(key, best) if workload.kind == "latency" else None,
            "ratio": ratio,
        }
    return summary, best


def target_cell(workload, summary, key):
    checks = []
    for label, subject, other, limit, kind in TARGETS.get(workload.key, []):
        if subject != key:
            continue
        value = summary[key]["ratio"](key, other)
        if value is None:
            checks.append(f"{label} n/a")
            continue
        if kind == "info":
            checks.append(f"{label} {value:.2f}x")
            continue
        passed = value <= limit if kind == "max" else value >= limit
        checks.append(f"{label} {'PASS' if passed else 'MISS'} ({value:.2f}x)")
    return ", ".join(checks)


def format_table(workloads, rounds):
    lines = []
    header = f"{'':38} {'calls':>7} {'median':>10} {'(min - max)':>21} {'x floor':>8} {'x best':>7}  target"
    lines.append(header)
    lines.append(f"{'':38} {'/block':>7} {'':>10} {'':>21} {'':>8} {'peer':>7}")
    for workload in workloads:
        summary, best = summarize(workload)
        lines.append("")
        lines.append(workload.title + (f"   [best peer: {workload.rows[best].label.split()[0]}]" if best else ""))
        for key, row in workload.rows.items():
            label = "  " + row.label
            if row.status is not None or key not in summary:
                lines.append(f"{label:38} {row.status or 'no samples'}")
                continue
            s = summary[key]
            if workload.kind == "latency":
                fmt = lambda v: f"{v * 1000:.3f}"  # noqa: E731
                cells = (fmt(s["median"]), f"({fmt(s['min'])} - {fmt(s['max'])})")
            else:
                fmt = lambda v: f"{v:,.0f}"  # noqa: E731
                cells = (fmt(s["median"]) + "/s", f"({fmt(s['min'])} - {fmt(s['max'])})")
            x_floor = ratio_text(s["x floor"])
            x_best = ratio_text(s["x best peer"])
            target = target_cell(workload, summary, key)
            calls = f"{row.calls:,}" if row.calls else ""
            line = f"{label:38} {calls:>7} {cells[0]:>10} {cells[1]:>21} {x_floor:>8} {x_best:>7}  {target}"
            lines.append(line.rstrip())
    return "\n".join(lines)


def ratio_text(value):
    if value is None:
        return ""
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.3f}x"


NOTES = [
    "calls/block: per thread (3.) or per process (4.) in the concurrent workloads.",
    "x best peer: against the fastest of requests, JSPyBridge, mini-racer and PyExecJS in that row group.",
    "floor and ours answer a str for hello and a decoded list for transform (ours: call / call_json).",
    "socket rows (1. only): the floor server and a second host on Unix sockets; their x floor is "
    "against the TCP floor, and ours socket's target cell adds its ratio to the socket floor.",
    "JSPyBridge: function proxies fetched once; an object result needs .valueOf() (a second round "
    "trip). Its Python side shares request counters between threads without a lock (it relies on "
    "the GIL); every answer in 3. is checked against its thread's own name.",
    "mini-racer: no HTTP, no process boundary (V8 in this process); in 3. each thread has its own "
    "context, since contexts are not shared across threads.",
    "PyExecJS: a node process per call, so only a few calls per block.",
]


def machine_info():
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    node = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    versions = []
    for dist, shown in [("requests", "requests"), ("javascript", "JSPyBridge (javascript)"),
                        ("mini-racer", "mini-racer"), ("PyExecJS", "PyExecJS")]:
        try:
            versions.append(f"{shown} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{shown} not installed")
    return [
        f"Machine: nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} CPUs), {cpu}",
        f"Python {platform.python_version()}, Node {node}, {platform.system()} {platform.release()}",
        f"Peers: {', '.join(versions)}",
        f"Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, load average {load_average()}",
    ]


def load_average():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def benchmark(args):
    for line in machine_info():
        print(line)
    print(
        f"Method: {args.rounds} rounds; per round, one block per contestant of about {args.seconds:g} s, "
        "order rotated each round,\n        each after an untimed lead-in of a tenth of its calls; "
        "median (min - max) over rounds;\n        ratios are medians of per-round ratios "
        "(latency: lower is better, calls/s: higher is better).",
        flush=True,
    )
    processes = Processes()
    contestants, unavailable = [], {}
    gang = process_gang = None
    left = []
    began = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="js-host-bench-") as directory:
            try:
                run = Run(directory, processes)
                for contestant_class in CONTESTANTS:
                    contestant = contestant_class()
                    if args.only and contestant.key not in args.only:
                        continue
                    contestants.append(contestant)
                    try:
                        contestant.open(run)
                    except Unavailable as error:
                        unavailable[contestant.key] = str(error)
                    except Exception as error:
                        unavailable[contestant.key] = f"failed to start: {type(error).__name__}: {error}"[:90]
                gang = ThreadGang()
                process_gang = ProcessGang(run.specs(), processes)
                workloads = build_workloads(contestants, unavailable, args, gang, process_gang)
                for index in range(args.rounds):
                    for workload in workloads:
                        workload.round(index)
                    print(f"  round {index + 1}/{args.rounds} done, {time.perf_counter() - began:.0f} s",
                          file=sys.stderr, flush=True)
            finally:
                if gang is not None:
                    gang.close()
                for contestant in contestants:
                    try:
                        contestant.close()
                    except Exception as error:
                        print(f"warning: closing {contestant.key}: {error!r}", file=sys.stderr)
                left = processes.stop_all()
    finally:
        if left:
            print(f"WARNING: still alive after stopping: {left}", file=sys.stderr)
    print()
    print(format_table(workloads, args.rounds))
    print()
    for note in NOTES:
        print(f"* {note}")
    started = ", ".join(f"{label} {pid}" for label, pid, _ in processes.started)
    verdict = "all stopped (checked by PID)" if not left else f"STILL ALIVE: {left}"
    print(f"Processes started: {started}: {verdict}.")
    print(f"Took {time.perf_counter() - began:.0f} s; load average now {load_average()}.")


# ---------------------------------------------------------------------------------------
# --profile: where ours spends its time on a trivial call, next to the floor


def profile(args):
    for line in machine_info():
        print(line)
    processes = Processes()
    with tempfile.TemporaryDirectory(prefix="js-host-bench-") as directory:
        try:
            run = Run(directory, processes)
            _profile(run, args)
        finally:
            from django_js_host.host import host

            host.reset()
            left = processes.stop_all()
    started = ", ".join(f"{label} {pid}" for label, pid, _ in processes.started)
    verdict = "all stopped (checked by PID)" if not left else f"STILL ALIVE: {left}"
    print(f"\nProcesses started: {started}: {verdict}.")


def _profile(run, args):
    """Time ours' trivial call layer by layer, each layer adding one part of ours to the floor."""
    configure_ours(run.project, run.config_file)
    from django_js_host.function import Function, encode_kwargs
    from django_js_host.host import JSHost, host
    from django_js_host.transport import Response, Transport

    floor_client = FloorClient(run.floor_port)
    host_client = FloorClient(run.host_port)
    transport = Transport(f"http://127.0.0.1:{run.host_port}")
    hello = Function("hello")
    # The socket rows' pieces: the socket floor, the socket host called like the floor, ours.
    socket_floor_client = FloorClient(run.floor_socket)
    socket_host_client = FloorClient(run.host_socket)
    socket_host = JSHost(config_file=str(run.socket_config_file))
    socket_hello = Function("hello", host=socket_host)

    def hashed_body(name):
        body = json.dumps({"name": name}, sort_keys=True).encode()
        return body, hashlib.sha1(body).hexdigest()

    def host_hashed(name, client=host_client):
        body, digest = hashed_body(name)
        connection = client.connection
        connection.request("POST", f"/function/hello?hash={digest}", body, JSON_HEADERS)
        return connection.getresponse().read().decode()

    def transport_request(name):
        body, digest = hashed_body(name)
        path = f"/function/hello?hash={digest}"
        return transport.request("POST", path, body=body, headers=JSON_HEADERS, timeout=10.0).body.decode()

    def post_call(name):
        body, digest = hashed_body(name)
        return host.post_call(f"/function/hello?hash={digest}", body, 10.0).body.decode()

    layers = {
        "a. floor client -> floor server": lambda name: floor_client.post("hello", {"name": name}).decode(),
        "b. floor client -> host, no hash": lambda name: host_client.post("hello", {"name": name}).decode(),
        "c. b + sorted keys + sha1 ?hash=": host_hashed,
        "d. c through Transport.request": transport_request,
        "e. c through host.post_call": post_call,
        "f. ours Function('hello').call()": lambda name: hello.call(name=name),
        "g. socket: floor client -> floor server": (
            lambda name: socket_floor_client.post("hello", {"name": name}).decode()
        ),
        "h. socket: floor client -> host, c's": lambda name: host_hashed(name, socket_host_client),
        "i. socket: ours Function.call()": lambda name: socket_hello.call(name=name),
    }
    counts = {
        label: calibrate(lambda n, c=call: trivial_block(c, n), args.seconds, 50, 100_000, WARM_UP_CALLS["trivial"])
        for label, call in layers.items()
    }
    server_of = {"a": run.floor_process, "g": run.floor_socket_process, "h": run.socket_host_process,
                 "i": run.socket_host_process}
    servers = {label: server_of.get(label[0], run.host_process).pid for label in layers}
    samples = {label: {"wall": [], "client cpu": [], "server cpu": []} for label in layers}
    labels = list(layers)
    for index in range(args.rounds):
        shift = index % len(labels)
        for label in labels[shift:] + labels[:shift]:
            n, server = counts[label], servers[label]
            server_cpu, client_cpu = cpu_seconds(server), time.process_time()
            samples[label]["wall"].append(trivial_block(layers[label], n))
            samples[label]["client cpu"].append((time.process_time() - client_cpu) / n)
            samples[label]["server cpu"].append((cpu_seconds(server) - server_cpu) / n)
    print(
        f"\nTrivial call layer by layer, us per call, medians over {args.rounds} rounds (wall: min - max).\n"
        "CPU: what each process used (Python: process_time; node: /proc utime+stime, 10 ms ticks),\n"
        "steadier than wall time on a busy machine."
    )
    print(f"  {'':38} {'wall':>8} {'(min - max)':>17} {'Python CPU':>11} {'node CPU':>9}")
    medians = {}
    for label, sample in samples.items():
        m = medians[label] = {key: statistics.median(values) * 1e6 for key, values in sample.items()}
        wall = sample["wall"]
        print(
            f"  {label:38} {m['wall']:8.1f} ({min(wall) * 1e6:6.1f} - {max(wall) * 1e6:6.1f}) "
            f"{m['client cpu']:11.1f} {m['server cpu']:9.1f}"
        )
    a, b, c, d, e, f, g, h, i = medians.values()
    print("  steps:")
    for what, x, y in [
        ("node: host vs floor server (b - a)", b, a),
        ("sorted keys + sha1 (c - b)", c, b),
        ("Transport.request (d - c)", d, c),
        ("host.post_call (e - d)", e, d),
        ("Function.call (f - e)", f, e),
        ("all: ours vs floor (f - a)", f, a),
        ("socket floor vs TCP floor (g - a)", g, a),
        ("socket: node, host vs floor (h - g)", h, g),
        ("socket: ours vs floor client (i - h)", i, h),
        ("socket: ours vs socket floor (i - g)", i, g),
        ("socket: ours vs TCP floor (i - a)", i, a),
    ]:
        print(
            f"    {what:36} {x['wall'] - y['wall']:+8.1f} {'':17} "
            f"{x['client cpu'] - y['client cpu']:+11.1f} {x['server cpu'] - y['server cpu']:+9.1f}"
        )

    # The pieces of ours' Python path, hot (a tight loop, no I/O): the real cost in a call is
    # higher, as every call switches to node and back and finds its caches cold.
    kwargs = {"name": "bench"}
    body = encode_kwargs("hello", kwargs)
    connection = host.transport._connection(time.monotonic())
    pieces = {
        "encode_kwargs (sort_keys, default=...)": lambda: encode_kwargs("hello", kwargs),
        "  vs json.dumps(kwargs).encode()": lambda: json.dumps(kwargs).encode(),
        "hashlib.sha1(body).hexdigest()": lambda: hashlib.sha1(body).hexdigest(),
        "Function.get_host() (import in body)": hello.get_host,
        "Function.get_timeout() (a setting)": hello.get_timeout,
        "host.transport (get_url, get_config)": lambda: host.transport,
        "  of which host.get_url()": host.get_url,
        "  of which host.get_config()": host.get_config,
        "  one settings.X (Settings.__getattr__)": lambda: host_settings().ROOT_URL,
        "transport._connection() (poll, idle age)": lambda: host.transport._connection(time.monotonic()),
        "  of which the idle-close poll": lambda: connection.idle_poller.poll(0),
        "sock.settimeout(t) (ioctl FIONBIO)": lambda: connection.sock.settimeout(10.0),
        "Response(...) namedtuple": lambda: Response(200, "text/plain", b"x", "u"),
    }
    print("\nPieces of ours' Python path, hot (tight loop, no I/O), us per call, best of 5:")
    for label, fn in pieces.items():
        number = 20_000
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        print(f"  {label:42} {best * 1e6:8.2f}")

    profiler = cProfile.Profile()
    n = counts["f. ours Function('hello').call()"]
    profiler.enable()
    trivial_block(layers["f. ours Function('hello').call()"], n)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(20)
    print(f"\ncProfile of {n} ours calls (by tottime; cProfile inflates small functions):")
    print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))
    floor_client.close()
    host_client.close()
    socket_floor_client.close()
    socket_host_client.close()
    socket_host.reset()
    transport.close()


def cpu_seconds(pid):
    """CPU seconds (user + system) that process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_settings():
    from django_js_host.conf import settings

    return settings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5; 3 with --quick)")
    parser.add_argument("--seconds", type=float, default=0.4,
                        help="about how long one block of calls runs (default 0.4; 0.05 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a fast sanity run (~20 s)")
    parser.add_argument("--only", type=lambda text: text.split(","), default=None,
                        help="comma-separated contestants to run: floor,ours,floor_socket,ours_socket,"
                        "requests,jspybridge,miniracer,pyexecjs")
    parser.add_argument("--profile", action="store_true", help="break ours' trivial call down against the floor")
    args = parser.parse_args()
    if args.quick:
        args.rounds = min(args.rounds, 3) if "--rounds" not in sys.argv else args.rounds
        args.seconds = 0.05 if "--seconds" not in sys.argv else args.seconds
    args.min_calls = 2 if args.quick else 3
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)  # settings.configure() below, not a project's
    if args.profile:
        profile(args)
    else:
        benchmark(args)


if __name__ == "__main__":
    main()
