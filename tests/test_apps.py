"""AppConfig.ready(): which processes connect at start-up, that they say so when they cannot,
and that the connect leaves no socket for a forked worker to inherit."""

import textwrap
import urllib.request

import pytest

from django_js_host.apps import connects_at_startup

from .support.django_site import (
    REPORT_CONNECTS,
    run_django,
    run_python,
    site_host,  # noqa: F401 (a fixture)
    start_django,
    stop_process_tree,
)
from .support.hosts import free_port, write_config
from .support.managers import managed, managed_js_host, project, runtime_dir  # noqa: F401 (fixtures)
from .support.processes import wait_until

PYTEST = {"pytest": object()}


@pytest.mark.parametrize(
    "argv, environ, modules, connects",
    [
        (None, {}, {}, True),  # a WSGI/ASGI server, a worker, a script calling django.setup()
        (None, {}, PYTEST, False),  # a pytest run, like `manage.py test`
        (["manage.py", "runserver"], {}, {}, False),  # the autoreloader's parent: it only watches
        (["manage.py", "runserver"], {"RUN_MAIN": "true"}, {}, True),  # its child: it serves
        (["manage.py", "runserver", "--noreload"], {}, {}, True),  # no autoreloader: it serves
        (["manage.py", "testserver", "data.json"], {}, {}, True),
        (["manage.py", "shell"], {}, {}, True),
        (["manage.py", "migrate"], {}, {}, False),
        (["manage.py", "makemigrations"], {}, {}, False),
        (["manage.py", "check", "--deploy"], {}, {}, False),
        (["manage.py", "collectstatic"], {}, {}, False),
        (["manage.py", "test"], {}, {}, False),
        (["manage.py", "jshost", "start"], {}, {}, False),  # it starts hosts: it cannot need one
    ],
)
def test_the_rule_for_connecting_at_startup(argv, environ, modules, connects):
    command = argv[1] if argv else None
    assert connects_at_startup(command, argv, environ, modules) is connects


def js_host_for(config, **more):
    return {"CONFIG_FILE": str(config), "CONNECT_ONCE_CONFIGURED": True, "VERBOSITY": "CONNECT", **more}


def test_a_server_process_that_cannot_connect_fails_at_startup_naming_the_url(tmp_path):
    port = free_port()
    js_host = js_host_for(write_config(tmp_path, port))
    finished = run_python(tmp_path, js_host, "-c", "import django; django.setup()")
    assert finished.returncode == 1
    assert "django_js_host.exceptions.ConnectionError" in finished.stderr
    assert f"Cannot connect to the JS host at http://127.0.0.1:{port}" in finished.stderr


def test_a_command_that_cannot_connect_at_startup_says_so_in_one_line(tmp_path):
    port = free_port()
    finished = run_django(tmp_path, js_host_for(write_config(tmp_path, port)), "shell", "-c", "pass")
    assert finished.returncode == 1
    (line,) = finished.stderr.splitlines()
    assert line.startswith(f"ConnectionError: Cannot connect to the JS host at http://127.0.0.1:{port} ")


def test_a_command_whose_config_does_not_load_says_so_in_one_line_with_file_and_line(tmp_path):
    config = tmp_path / "host.config.js"
    config.write_text("module.exports = {functions: {\n  a() { return 1 + ; },\n}};\n")
    finished = run_django(tmp_path, js_host_for(config), "shell", "-c", "pass")
    assert finished.returncode == 1
    assert finished.stderr.splitlines() == [
        f"ConfigError: The config file {config} does not load: SyntaxError: Unexpected token ';' (at {config}:2)"
    ]


def test_with_connect_once_configured_off_start_up_does_not_connect(tmp_path):
    config = write_config(tmp_path, free_port())
    js_host = js_host_for(config, CONNECT_ONCE_CONFIGURED=False)
    finished = run_python(tmp_path, js_host, "-c", "import django; django.setup()")
    assert finished.returncode == 0, finished.stderr


@pytest.mark.parametrize("command", [["check"], ["migrate", "--plan"], ["jshost", "logs"]])
def test_commands_that_need_no_host_do_not_connect(tmp_path, command):
    js_host = js_host_for(write_config(tmp_path, free_port()))  # nothing listens there
    finished = run_django(tmp_path, js_host, *command, code=REPORT_CONNECTS)
    assert "connect: pid" not in finished.stderr
    assert "Cannot connect" not in finished.stderr


def test_shell_connects_at_startup(tmp_path, site_host):
    finished = run_django(tmp_path, js_host_for(site_host.config_file), "shell", "-c", "pass")
    assert finished.returncode == 0, finished.stderr
    assert f"Connected to JSHost [{site_host.url}]" in finished.stderr


SOCKETS_TO = """
import os

def socket_inodes():
    inodes = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[len('socket:['):-1])
    return inodes

def sockets_to(port):
    '''How many TCP sockets of this process are connected to port ``port`` (Linux /proc).'''
    inodes = socket_inodes()
    with open('/proc/net/tcp') as table:
        rows = [row.split() for row in table.read().splitlines()[1:]]
    return sum(1 for row in rows if row[9] in inodes and int(row[2].rsplit(':', 1)[1], 16) == port)

def unix_sockets():
    '''How many Unix sockets this process holds: the manager and managed hosts are reached on those.'''
    inodes = socket_inodes()
    with open('/proc/net/unix') as table:
        return sum(1 for row in table.read().splitlines()[1:] if row.split()[6] in inodes)
"""


def test_startup_connect_leaves_no_socket_for_a_forked_worker(tmp_path, site_host):
    """gunicorn --preload: ready() runs in the master, which then forks the workers."""
    port = int(site_host.url.rsplit(":", 1)[1])
    script = SOCKETS_TO + textwrap.dedent(
        f"""
        import django
        django.setup()
        from django_js_host.function import Function
        print('after ready()', sockets_to({port}), flush=True)
        worker = os.fork()
        if worker == 0:
            try:
                print('worker', Function('hello_world').call(name='worker'), sockets_to({port}), flush=True)
            finally:
                os._exit(0)
        os.waitpid(worker, 0)
        print('master', Function('hello_world').call(name='master'), sockets_to({port}), flush=True)
        """
    )
    finished = run_python(tmp_path, js_host_for(site_host.config_file), "-c", script)
    assert finished.returncode == 0, finished.stderr
    assert f"Connected to JSHost [{site_host.url}]" in finished.stderr  # it did connect ...
    assert finished.stdout.splitlines() == [
        "after ready() 0",  # ... and closed the socket
        "worker Hello, worker! 1",  # each process opens its own at its first call
        "master Hello, master! 1",
    ]


def test_a_managed_startup_connect_leaves_no_socket_either(tmp_path, managed, project, runtime_dir):
    script = SOCKETS_TO + textwrap.dedent(
        """
        import django
        django.setup()
        print(unix_sockets(), flush=True)
        """
    )
    js_host = managed_js_host(project, runtime_dir, CONNECT_ONCE_CONFIGURED=True)
    finished = run_python(tmp_path, js_host, "-c", script)
    assert finished.returncode == 0, finished.stderr
    assert "Started JSHost" in finished.stderr
    assert finished.stdout == "0\n"


def test_runserver_connects_in_the_autoreloaders_child_only(tmp_path, site_host):
    port = free_port()
    js_host = js_host_for(site_host.config_file)
    server = start_django(
        tmp_path, js_host, "runserver", f"127.0.0.1:{port}",
        code=REPORT_CONNECTS, ALLOWED_HOSTS=["127.0.0.1"],
    )  # fmt: skip
    try:
        pages = []
        url = f"http://127.0.0.1:{port}/django/?name=Runserver&number=1"
        assert wait_until(lambda: pages.append(_get(url)) or pages[-1], timeout=20)
        assert "<h1>Hello, Runserver!</h1>" in pages[-1]
    finally:
        _, _, err = stop_process_tree(server)
    connects = [line for line in err.splitlines() if line.startswith("connect: pid")]
    assert len(connects) == 1, err
    assert connects[0].endswith("RUN_MAIN=true")


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None
