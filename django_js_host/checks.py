"""System checks for JS_HOST, with stable ids (django_js_host.E001 ...) and hints.

They run with every management command that runs checks, so all but one are cheap (a
dict, a stat, a PATH lookup). E003 loads the config file in node: ~50 ms plus whatever the
config require()s at load, which for a server-side rendering bundle can be seconds. So it
runs only under ``manage.py check`` (and ``check --deploy``) and when checks are run from
code (``run_checks()``, ``call_command("check")``), not before every ``migrate`` or
runserver reload; a server connecting at start-up (CONNECT_ONCE_CONFIGURED) loads the
config anyway and stops on the same error, and ``jshost status`` and ``jshost start``
report it too. The config it read is cached on the default host, so a later connect in
the same process does not load it again.

Behind ROOT_URL the host may run on another machine, and Python never runs node (the URL
is not read from the config file), so E001-E003 do not apply there.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.conf import settings as django_settings
from django.core.checks import Error, Warning, register

from .conf import settings
from .exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.apps import AppConfig
    from django.core.checks import CheckMessage

    from .apps import DjangoJSHostConfig

TAG = "js_host"

# The names a host config may end with; how Node runs each (CommonJS, ES module, TypeScript)
# is js/lib/config-module.js's business.
CONFIG_EXTENSIONS = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")

# Commands under which E003 runs (None: checks run from code, not from manage.py).
CONFIG_LOADING_COMMANDS = (None, "check")


def register_checks() -> None:
    register(check_settings, TAG)
    register(check_node_and_config_file, TAG)
    register(check_manager_not_deployed, TAG, deploy=True)


def check_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E006 an invalid JS_HOST, W004 ROOT_URL ending in '/', E005 ROOT_URL with USE_MANAGER,
    E008 CACHE_ALIAS not a configured cache."""
    try:
        resolved = settings.as_dict()
    except ConfigError as error:
        return [
            Error(
                str(error),
                hint="Fix JS_HOST in your settings; README.rst lists every setting and its values.",
                id="django_js_host.E006",
            )
        ]
    problems: list[CheckMessage] = []
    root_url = resolved["ROOT_URL"]
    if root_url and root_url.endswith("/"):
        problems.append(
            Warning(
                f"JS_HOST['ROOT_URL'] ends with '/': {root_url!r}.",
                hint=(
                    f"Requests go to {root_url.rstrip('/')}/status and "
                    f"{root_url.rstrip('/')}/function/<name> (the '/' is dropped): write "
                    f"ROOT_URL as {root_url.rstrip('/')!r} so your proxy rules match what you read."
                ),
                id="django_js_host.W004",
            )
        )
    if root_url and resolved["USE_MANAGER"]:
        problems.append(
            Error(
                "JS_HOST sets both ROOT_URL and USE_MANAGER.",
                hint=(
                    "Managed hosts listen on sockets of the manager's choosing, which a proxy "
                    "at ROOT_URL cannot know. In development use the manager without ROOT_URL; behind a "
                    "proxy run your hosts yourself (`manage.py jshost start`, a supervisor) "
                    "with USE_MANAGER=False."
                ),
                id="django_js_host.E005",
            )
        )
    if resolved["CACHE_TIMEOUT"]:
        if resolved["CACHE_ALIAS"] not in django_settings.CACHES:
            problems.append(
                Error(
                    f"JS_HOST['CACHE_ALIAS'] is {resolved['CACHE_ALIAS']!r}, which is not in settings.CACHES.",
                    hint="Name one of settings.CACHES, or set JS_HOST['CACHE_TIMEOUT'] to 0 to cache nothing.",
                    id="django_js_host.E008",
                )
            )
    return problems


def check_node_and_config_file(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E001 no node binary, E002 no config file, E003 a config file that does not load."""
    try:
        resolved = settings.as_dict()
    except ConfigError:
        return []  # E006 reports it
    if resolved["ROOT_URL"]:
        return []
    problems: list[CheckMessage] = []
    node = resolved["PATH_TO_NODE"]
    if find_node(node, resolved["SOURCE_ROOT"]) is None:
        problems.append(
            Error(
                f"JS_HOST['PATH_TO_NODE'] is {node!r}, which is not an executable "
                + ("file." if os.sep in node else "on PATH."),
                hint=(
                    "Install Node.js (>= 18) or `pip install django-js-host[node]` (Node.js "
                    "from PyPI), or set PATH_TO_NODE to the full path of your node binary (a "
                    "relative path is relative to SOURCE_ROOT)."
                ),
                id="django_js_host.E001",
            )
        )
    config_file = resolved["CONFIG_FILE"]
    if not os.path.isfile(config_file):
        beside = configs_beside(config_file)
        problems.append(
            Error(
                f"The JS host's config file {config_file} does not exist.",
                hint=(
                    f"{os.path.basename(beside[0])} is there: set JS_HOST['CONFIG_FILE'] to "
                    "it (its name says how Node runs it)."
                    if beside
                    else f"JS_HOST['CONFIG_FILE'] is relative to SOURCE_ROOT "
                    f"({resolved['SOURCE_ROOT']}): create the file there, or point "
                    "CONFIG_FILE (or SOURCE_ROOT) at it."
                ),
                id="django_js_host.E002",
            )
        )
    if problems or not loads_config_in_checks():
        return problems
    from .host import host

    try:
        host.get_config()
    except ConfigError as error:
        problems.append(
            Error(
                str(error),
                hint=(
                    f"Fix the config file; it must export {{functions: {{name: fn}}}} "
                    "(module.exports = ..., or export default ...). To see "
                    f"the error again: cd {resolved['SOURCE_ROOT']} && "
                    f"{node} {resolved['PATH_TO_BIN']} {config_file} --config"
                ),
                id="django_js_host.E003",
            )
        )
    return problems


def configs_beside(config_file: str) -> list[str]:
    """Host configs of the same name with another extension beside ``config_file``:
    host.config.mjs for a missing host.config.js."""
    stem, extension = os.path.splitext(config_file)
    return [stem + other for other in CONFIG_EXTENSIONS if other != extension and os.path.isfile(stem + other)]


def check_manager_not_deployed(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W007 (check --deploy only): USE_MANAGER is a development tool."""
    try:
        use_manager = settings.USE_MANAGER
    except ConfigError:
        return []  # E006 reports it
    if not use_manager:
        return []
    return [
        Warning(
            "JS_HOST['USE_MANAGER'] is True in a deployment.",
            hint=(
                "The manager is for development: its hosts stop when no process is connected "
                "and are not restarted if they crash. Run your hosts under a supervisor "
                "(`manage.py jshost start`) and set USE_MANAGER=False."
            ),
            id="django_js_host.W007",
        )
    ]


def find_node(node: str, source_root: str) -> str | None:
    """The path of the node binary that hosts run with, or None if there is none.

    A path with a '/' is relative to SOURCE_ROOT, the cwd hosts start in; a bare name is
    looked up on PATH.
    """
    if os.sep not in node:
        return shutil.which(node)
    path = os.path.join(source_root, node)
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def loads_config_in_checks() -> bool:
    """True if E003 runs now: under `manage.py check`, or checks run from code."""
    command = cast("DjangoJSHostConfig", apps.get_app_config("django_js_host")).management_command
    return command in CONFIG_LOADING_COMMANDS
