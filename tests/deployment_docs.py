"""The configurations of docs/deployment.rst, as the production tests run them.

Each one is a code block with a ``:name:``; a test takes it as it is written and replaces
only the example's paths, ports and user (``substitute`` insists that each is there), so
the tests prove that the documented configuration works.
"""

import getpass
import hashlib
import http.client
import json
import re
import shutil
from pathlib import Path

import docutils.core
import docutils.nodes

from django_js_host.conf import PACKAGED_BIN

REPO = Path(__file__).resolve().parent.parent
DEPLOYMENT = REPO / "docs" / "deployment.rst"
PRODUCTION_CONFIG = REPO / "tests" / "fixtures" / "production.config.js"

# The example's values, as docs/deployment.rst writes them.
PROJECT = "/srv/site"
DOCUMENTED_BIN = "/srv/site/.venv/lib/python3.12/site-packages/django_js_host/js/bin/js-host.js"
DOCUMENTED_NODE = "/usr/bin/node"
DOCUMENTED_USER = "www-data"
DOCUMENTED_PORT = 9009
DEFAULT_GRACE_PERIOD = 10  # seconds: the host's default shutdownGracePeriod


def doctree():
    """docs/deployment.rst parsed by docutils; warnings raise (see test_deployment_docs)."""
    return docutils.core.publish_doctree(
        DEPLOYMENT.read_text(), settings_overrides={"report_level": 2, "halt_level": 2}
    )


def code_block(name):
    """The text of the code block written with ``:name: <name>``."""
    found = [
        node.astext()
        for node in doctree().findall(docutils.nodes.literal_block)
        if name in node["names"]
    ]
    assert len(found) == 1, f"{DEPLOYMENT} has {len(found)} code blocks named {name!r}"
    return found[0] + "\n"


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


def supervisor_program(project, log_dir, port, python=None):
    """The documented ``[program:js-host]`` block, run from ``project`` on ``port``.

    With ``python``, its alternative command (commented out in the docs) instead:
    ``manage.py jshost start`` run by that interpreter.
    """
    block = code_block("supervisor-program")
    if python is None:
        command = {f"{DOCUMENTED_NODE} {DOCUMENTED_BIN} ": f"{node_path()} {PACKAGED_BIN} "}
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
            f"--port {DOCUMENTED_PORT}\n": f"--port {port}\n",
        },
    )


def nginx_cache_config(cache_dir, host_ports, listen_port):
    """The documented nginx config (http-block level) for two hosts on loopback."""
    first, second = host_ports
    return substitute(
        code_block("nginx-cache"),
        {
            "/var/cache/nginx/js-host ": f"{cache_dir} ",
            "server 127.0.0.1:9009;": f"server 127.0.0.1:{first};",
            "server 127.0.0.1:9010;": f"server 127.0.0.1:{second};",
            "listen 127.0.0.1:9000;": f"listen 127.0.0.1:{listen_port};",
        },
    )


def settings_of(block_text, *names):
    """``name=value`` settings of an ini-style block (supervisor, systemd), as a dict."""
    values = {}
    for line in block_text.splitlines():
        match = re.match(r"\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$", line)
        if match and match.group(1) in names:
            values[match.group(1)] = match.group(2)
    return values


# --- asking one host directly, on its own port (never through a proxy or its cache) ---


def host_status(port, timeout=5.0):
    """What ``GET /status`` of the host on ``port`` answers, or None if nothing does."""
    try:
        status, body = _request(port, "GET", "/status", None, timeout)
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


def call_directly(port, name, timeout=10.0, **kwargs):
    """Call function ``name`` on the host on ``port``: (status, decoded JSON answer)."""
    body = json.dumps(kwargs, sort_keys=True).encode()
    path = f"/function/{name}?hash={hashlib.sha1(body).hexdigest()}"
    status, answer = _request(port, "POST", path, body, timeout)
    return status, json.loads(answer)


def _request(port, method, path, body, timeout):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def write_project(directory, port=None):
    """The example's project directory (SOURCE_ROOT): a ``host.config.js`` serving the
    functions of tests/fixtures/production.config.js, on ``port`` if given."""
    project = Path(directory) / "site"
    project.mkdir()
    settings = json.dumps({} if port is None else {"port": port})
    (project / "host.config.js").write_text(
        f"module.exports = Object.assign({{}}, require({json.dumps(str(PRODUCTION_CONFIG))}), {settings});\n"
    )
    return project
