"""Streaming under a real ASGI server: async views returning
``StreamingHttpResponse(Function(...).astream(...))`` (tests/urls.py), served by uvicorn
with a host of tests/js/fixtures/streams.config.js. A client reads the parts as the host
makes them, and one that goes away cancels the function's stream in the host."""

import http.client
import socket
import time
from types import SimpleNamespace

import django
import pytest

from django_js_host.function import Function

from .support.django_site import start_python, stop_process_tree
from .support.hosts import STREAMS_CONFIG, free_port, js_host_for_test, running_host, write_config
from .support.processes import wait_until


def answers(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/streamed-parts/?part=up")
        return connection.getresponse().read() == b"up"
    except OSError:
        return False
    finally:
        connection.close()


@pytest.fixture(scope="module")
def asgi_site(tmp_path_factory):
    """uvicorn serving the test site (``tests.urls``) on a free port, its calls going to a
    host of the streams' functions; both stopped by PID at the end."""
    directory = tmp_path_factory.mktemp("asgi")
    config = write_config(directory, free_port(), functions_from=STREAMS_CONFIG)
    with running_host(config) as host_process:
        port = free_port()
        server = start_python(
            directory, js_host_for_test(config),
            "-m", "uvicorn", "--factory", "django.core.asgi:get_asgi_application",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            ALLOWED_HOSTS=["127.0.0.1"],
        )  # fmt: skip
        try:
            assert wait_until(lambda: answers(port) or server.poll() is not None, timeout=30)
            assert server.poll() is None, server.communicate()
            yield SimpleNamespace(port=port, host=host_process)
        finally:
            stop_process_tree(server)


@pytest.fixture
def streams_settings(settings, asgi_site):
    settings.JS_HOST = js_host_for_test(asgi_site.host.config_file)


def get(site, path):
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    connection.request("GET", path)
    return connection, connection.getresponse()


def test_an_async_view_streams_the_parts_as_the_host_makes_them(asgi_site):
    connection, response = get(asgi_site, "/streamed-parts/?part=one&part=two&part=three&ms=300")
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    started, arrivals = time.monotonic(), []
    while piece := response.read1():
        arrivals.append((time.monotonic() - started, piece))
    connection.close()
    assert b"".join(piece for _, piece in arrivals) == b"onetwothree"
    # Made 300 ms apart, they came apart: the first long before the last.
    assert len(arrivals) >= 3 and arrivals[-1][0] - arrivals[0][0] > 0.4, arrivals


@pytest.mark.skipif(
    django.VERSION < (5, 0),
    reason="Django 4.2's ASGI handler notices a client that went away only when it next writes to it",
)
@pytest.mark.usefixtures("streams_settings")
def test_a_client_that_goes_away_cancels_the_stream_in_the_host(asgi_site):
    connection, response = get(asgi_site, "/stream-until-aborted/?key=asgi-gone")
    assert response.read1() == b"the first part"
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()
    # uvicorn tells Django, which cancels the view's response; closing astream() closes
    # its connection to the host, which aborts the function's signal: its generator ends.
    assert wait_until(lambda: Function("seen").call_json(key="asgi-gone") is not None, timeout=3)
    assert Function("seen").call_json(key="asgi-gone") == {"returned": True, "aborted": True}
