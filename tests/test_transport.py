"""Kept-alive connections: reused, never shared between threads, never across a fork."""

import json
import os
import threading

import pytest

from django_js_host.function import Function
from django_js_host.host import host as default_host

pytestmark = pytest.mark.usefixtures("js_host_settings")


def local_port_of_this_threads_connection():
    return default_host.transport._local.connection.sock.getsockname()[1]


def test_calls_reuse_one_kept_alive_connection():
    echo = Function("echo")
    echo.call(n=1)
    port = local_port_of_this_threads_connection()
    for n in range(20):
        assert echo.call_json(n=n) == {"n": n}
    assert local_port_of_this_threads_connection() == port


def test_threads_never_get_each_others_answers():
    echo = Function("echo")
    mismatches, errors = [], []

    def worker(thread_number):
        try:
            for call_number in range(200):
                token = f"{thread_number}-{call_number}"
                answer = echo.call_json(token=token)
                if answer != {"token": token}:
                    mismatches.append((token, answer))
        except Exception as error:  # surfaced below, with the thread's failure
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert mismatches == []


def test_a_forked_child_opens_its_own_connection():
    echo = Function("echo")
    assert echo.call_json(who="parent") == {"who": "parent"}
    parent_port = local_port_of_this_threads_connection()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        try:
            answer = echo.call_json(who="child")
            report = {"answer": answer, "port": local_port_of_this_threads_connection()}
        except BaseException as error:
            report = {"error": repr(error)}
        os.write(write_end, json.dumps(report).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        report = json.loads(reader.read())
    os.waitpid(pid, 0)
    assert report.get("answer") == {"who": "child"}, report
    assert report["port"] != parent_port
    assert echo.call_json(who="parent again") == {"who": "parent again"}
    assert local_port_of_this_threads_connection() == parent_port
