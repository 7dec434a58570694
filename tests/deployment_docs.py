"""The configurations of docs/deployment.rst, as the production tests run them.

Each one is a code block with a ``:name:``; a test takes it as it is written and replaces
only the example's paths, ports, names and users (``substitute`` insists that each is
there), so the tests prove that the documented configuration works.
"""

import getpass
import hashlib
import http.client
import json
import re
import shutil
import socket
from pathlib import Path

from django_js_host.conf import PACKAGED_BIN

from .support.docs import named_code_block

REPO = Path(__file__).resolve().parent.parent
DEPLOYMENT = REPO / "docs" / "deployment.rst"
PRODUCTION_CONFIG = REPO / "tests" / "fixtures" / "production.config.js"

# The example's values, as docs/deployment.rst writes them.
PROJECT = "/srv/site"
DOCUMENTED_BIN = "/srv/site/.venv/lib/python3.12/site-packages/django_js_host/js/bin/js-host.js"
DOCUMENTED_NODE = "/usr/bin/node"
DOCUMENTED_USER = "site"  # runs Django and the host
DOCUMENTED_NGINX_USER = "www-data"  # nginx's workers
DOCUMENTED_SOCKET = "/run/js-host/site.sock"
DOCUMENTED_PORT = 9009
DOCUMENTED_FUNCTIONS = "require('./js/functions')"
DOCUMENTED_HOST_ADDRESS = "10.0.0.11"  # the first host machine's
DOCUMENTED_TCP_HOSTS = ("10.0.0.11:9009", "10.0.0.12:9009")
DOCUMENTED_NGINX_LISTEN = "127.0.0.1:9000"
DEFAULT_GRACE_PERIOD = 10  # seconds: the host's default shutdownGracePeriod
TOKEN_HEADER = "X-JS-Host-Token"


def code_block(name):
    """The text of the code block written with ``:name: <name>``."""
    return named_code_block(DEPLOYMENT, name)


def substitute(text, replacements):
    """``text`` with each key of ``replacements`` replaced; each must occur in it."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is not in the documented block:\n{text}"
        text = text.replace(old, str(new))
    return text


def node_path():
    node = shutil.which("node")
    assert node, "node is not on PATH"
    return node


def supervisor_program(project, log_dir, socket_path, python=None):
    """The documented ``[program:js-host]`` block, run from ``project`` on ``socket_path``.

    With ``python``, its alternative command (commented out in the docs) instead:
    ``manage.py jshost start`` run by that interpreter.
    """
    block = code_block("supervisor-program")
    if python is None:
        command = {
            f"{DOCUMENTED_NODE} {DOCUMENTED_BIN} ": f"{node_path()} {PACKAGED_BIN} ",
            f" {PROJECT}/host.config.js ": f" {project}/host.config.js ",
        }
    else:
        node_command = re.search(r"^command=.*\n", block, re.MULTILINE).group(0)
        manage_command = re.search(r"^; or: (command=.*\n)", block, re.MULTILINE).group(1)
        block = block.replace(node_command, manage_command)
        command = {f"command={PROJECT}/.venv/bin/python manage.py ": f"command={python} manage.py "}
    return substitute(
        block,
        {
            **command,
            f"directory={PROJECT}\n": f"directory={project}\n",
            f"user={DOCUMENTED_USER}\n": f"user={getpass.getuser()}\n",
            "/var/log/js-host/": f"{log_dir}/",
            f"--socket {DOCUMENTED_SOCKET}\n": f"--socket {socket_path}\n",
        },
    )


def socket_directory():
    """(mode, owner, group) of the socket's directory, from the documented tmpfiles.d line."""
    line = next(
        line for line in code_block("tmpfiles").splitlines() if line and not line.startswith("#")
    )
    kind, path, mode, owner, group, _age = line.split()
    assert (kind, path) == ("d", str(Path(DOCUMENTED_SOCKET).parent)), line
    return int(mode, 8), owner, group


def nginx_cache_config(cache_dir, socket_path, listen_port):
    """The documented nginx config (http-block level) in front of the host on ``socket_path``."""
    return substitute(
        code_block("nginx-cache"),
        {
            "/var/cache/nginx/js-host ": f"{cache_dir} ",
            f"http://unix:{DOCUMENTED_SOCKET}:;": f"http://unix:{socket_path}:;",
            f"listen {DOCUMENTED_NGINX_LISTEN};": f"listen 127.0.0.1:{listen_port};",
        },
    )


def nginx_machines_config(cache_dir, host_ports, listen_port):
    """The cache config changed as the docs say for hosts on TCP: their ``upstream`` (here
    on loopback ports), and the ``nginx-machines-proxy-pass`` lines in both locations.

    nginx still listens on loopback, so the ``$host`` check keeps its loopback names.
    """
    first, second = DOCUMENTED_TCP_HOSTS
    upstream = substitute(
        code_block("nginx-machines"),
        {
            f"server {first} ": f"server 127.0.0.1:{host_ports[0]} ",
            f"server {second} ": f"server 127.0.0.1:{host_ports[1]} ",
        },
    )
    proxy_pass_lines = code_block("nginx-machines-proxy-pass").splitlines()
    documented_proxy_pass = f"proxy_pass http://unix:{DOCUMENTED_SOCKET}:;"
    lines = []
    for line in code_block("nginx-cache").splitlines():
        if line.strip() == documented_proxy_pass:
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + replacement for replacement in proxy_pass_lines]
        else:
            lines.append(line)
    cache = "\n".join(lines) + "\n"
    assert cache.count("proxy_pass http://js_hosts;") == 2, cache
    return upstream + substitute(
        cache,
        {
            "/var/cache/nginx/js-host ": f"{cache_dir} ",
            f"listen {DOCUMENTED_NGINX_LISTEN};": f"listen 127.0.0.1:{listen_port};",
        },
    )


def django_settings(name, replacements):
    """The ``JS_HOST`` dict that the documented Python block ``name`` sets, with
    ``replacements`` made in its text (it may read os.environ)."""
    namespace = {}
    code = substitute(code_block(name), replacements)
    exec(compile(code, f"{DEPLOYMENT}:{name}", "exec"), namespace)  # the docs' own settings
    return namespace["JS_HOST"]


def settings_of(block_text, *names):
    """``name=value`` settings of an ini-style block (supervisor, systemd), as a dict."""
    values = {}
    for line in block_text.splitlines():
        match = re.match(r"\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$", line)
        if match and match.group(1) in names:
            values[match.group(1)] = match.group(2)
    return values


# --- asking one host directly, at its own socket or port (never through a proxy or its cache) ---


def host_status(where, timeout=5.0, token=None):
    """What ``GET /status`` of the host at ``where`` (a port, or a socket path) answers,
    or None if nothing does."""
    try:
        status, body = request(where, "GET", "/status", None, timeout, token=token)
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


def call_directly(where, name, timeout=10.0, token=None, **kwargs):
    """Call function ``name`` on the host at ``where``: (status, decoded JSON answer)."""
    body = json.dumps(kwargs, sort_keys=True).encode()
    path = f"/function/{name}?hash={hashlib.sha1(body).hexdigest()}"
    status, answer = request(where, "POST", path, body, timeout, token=token)
    return status, json.loads(answer)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket; it sends ``Host: localhost``, as nginx does."""

    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(socket_path)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def request(where, method, path, body, timeout, token=None, headers=None):
    """One request to ``where``: a TCP port on loopback, or a Unix socket's path. Returns
    (status, body)."""
    if isinstance(where, int):
        connection = http.client.HTTPConnection("127.0.0.1", where, timeout=timeout)
    else:
        connection = UnixHTTPConnection(where, timeout)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        all_headers[TOKEN_HEADER] = token
    try:
        connection.request(method, path, body, all_headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _functions_from_fixture(block):
    """A documented host config block with its functions from production.config.js."""
    return substitute(
        block, {DOCUMENTED_FUNCTIONS: f"require({json.dumps(str(PRODUCTION_CONFIG))}).functions"}
    )


def write_socket_project(directory, socket_path):
    """The example's project directory (SOURCE_ROOT) with the documented socket config,
    serving the functions of tests/fixtures/production.config.js on ``socket_path``."""
    project = Path(directory) / "site"
    project.mkdir()
    config = substitute(
        _functions_from_fixture(code_block("host-config-socket")),
        {f"'{DOCUMENTED_SOCKET}'": json.dumps(str(socket_path))},
    )
    (project / "host.config.js").write_text(config)
    return project


def write_tcp_project(directory):
    """The example's project directory with the documented host config for TCP, its
    address on loopback; its port comes from the command line (``--port``)."""
    project = Path(directory) / "site"
    project.mkdir()
    config = substitute(
        _functions_from_fixture(code_block("host-config-tcp")),
        {f"address: '{DOCUMENTED_HOST_ADDRESS}'": "address: '127.0.0.1'"},
    )
    (project / "host.config.js").write_text(config)
    return project
