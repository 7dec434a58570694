"""The Django app: settings completed at load, checks registered, and the start-up connect.

CONNECT_ONCE_CONFIGURED (default True) makes a process connect to its host as Django
starts, so a missing host or a broken config file stops start-up with a clear error
instead of failing the first page that calls a function, and, with USE_MANAGER, so the
managed host is up (and kept: the manager counts the connection) before the first request.

Which processes connect at start-up: those that will call functions.

* Not a management command: a WSGI/ASGI server (gunicorn, uwsgi, uvicorn, daphne,
  mod_wsgi), a task worker, a script calling django.setup(); but not a pytest run, which
  is ``manage.py test`` by another name.
* ``runserver`` (in the autoreloader's child, which serves; not in its parent, which only
  watches files and restarts the child), ``testserver`` and ``shell``.
* No other management command: ``migrate``, ``check``, ``collectstatic``, ``test`` and
  ``jshost`` itself (it starts, stops and inspects hosts, so it must not need one).

A rule on the command, rather than connecting on the first request (a ``request_started``
receiver): that would also skip commands and the autoreloader's parent, but would report a
missing host only to the first visitor, and after each autoreload a managed host would
lose its last connection until the next request came, so it would stop and pay its
start-up again.

What a failure does: a server or a worker (no management command) stops with the error,
since it must not serve without its host; a management command says it in one line and
exits 1, except runserver's autoreloading child, which says it and serves on, watching the
files to fix (startup_errors.py). A bad JS_HOST is the same, except where it is reported
anyway: by `check` (E006), and in runserver's autoreloaded process by the checks it runs.

The connect is safe under pre-fork servers (gunicorn --preload, uwsgi without lazy-apps):
the sockets it opened are closed before ready() returns, so a forked worker inherits none;
every process and thread opens its own at its first call.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from appconf import AppConf
from django.apps import AppConfig

if TYPE_CHECKING:
    from collections.abc import Container, Mapping, Sequence
    from types import FrameType

    from .conf import ResolvedSettings

# Management commands during which ready() connects: they serve requests or run the
# user's code interactively.
CONNECTING_COMMANDS = frozenset({"runserver", "testserver", "shell"})
# Commands that go on with a bad JS_HOST: `check` reports it (E006); help runs no code.
COMMANDS_REPORTING_BAD_SETTINGS = frozenset({"check", "help", "--help", "-h", "version", "--version"})


class JSHostAppConf(AppConf):  # type: ignore[misc]  # django-appconf is untyped
    """Declares the JS_HOST setting for django-appconf.

    At app load the project's dict is validated (ConfigError names a bad key or value) and
    completed with every default, so ``settings.JS_HOST`` shows the values in force.
    """

    HOST: dict[str, Any] = {}

    class Meta:
        prefix = "js"

    def configure_host(self, value: object) -> ResolvedSettings | object:
        from .conf import resolve
        from .exceptions import ConfigError

        try:
            return resolve(value)
        except ConfigError:
            # Left as written: raising here, as apps are loaded, would stop every command
            # with a traceback, `check` too. ready() and check E006 report it.
            return value


class DjangoJSHostConfig(AppConfig):
    name = "django_js_host"
    verbose_name = "JS host"

    # The management command this process runs (e.g. "migrate"), or None outside
    # manage.py / django-admin. Read at start-up: runserver runs its checks in another
    # thread, where the command is no longer on the stack.
    management_command: str | None = None

    def ready(self) -> None:
        from . import checks
        from .conf import settings
        from .exceptions import ConfigError, JSHostError
        from .startup_errors import exit_with, serve_on_and_watch

        checks.register_checks()
        self.management_command, command_argv = running_management_command()
        command = self.management_command
        try:
            settings.as_dict()
        except ConfigError as error:
            if command is None:
                raise  # a server or a worker: it must not start misconfigured
            if command in COMMANDS_REPORTING_BAD_SETTINGS or in_runserver_child(command):
                return
            exit_with(error)
        # ENABLED False: calls are switched off, so a missing host must not stop start-up.
        if settings.ENABLED and settings.CONNECT_ONCE_CONFIGURED and connects_at_startup(
            command, command_argv, os.environ, sys.modules
        ):
            from .host import connect_default_host, host

            try:
                connect_default_host()  # errors stop start-up, naming the file, URL or logfile
            except JSHostError as error:
                if command is None:
                    raise
                if in_runserver_child(command):
                    serve_on_and_watch(error, host.config_file)
                    return
                exit_with(error)


def running_management_command() -> tuple[str, list[str]] | tuple[None, None]:
    """(command name, argv) of the manage.py / django-admin run in progress, or (None, None).

    Found on the call stack (ready() runs inside ManagementUtility.execute), so it works
    whatever the script is called: manage.py, django-admin, ``python -m django`` or a
    console script of the project's own.
    """
    from django.core.management import ManagementUtility

    execute = ManagementUtility.execute.__code__
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is execute:
            argv: list[str] = frame.f_locals["self"].argv
            return (argv[1] if len(argv) > 1 else "help"), argv
        frame = frame.f_back
    return None, None


def in_runserver_child(command: str | None) -> bool:
    """True in the process that runserver's autoreloader starts, serves in, and starts again
    when a file it watches changes. With a bad JS_HOST it goes on: the checks runserver runs
    report E006, and the autoreloader waits for settings.py to change, as for Django's own
    check errors. (At start, its parent exits instead, as any other command does.)"""
    return command == "runserver" and os.environ.get("RUN_MAIN") == "true"


def connects_at_startup(
    command: str | None, argv: Sequence[str] | None, environ: Mapping[str, str], modules: Container[str]
) -> bool:
    """True if a process running ``command`` (None: no management command) should connect now."""
    if command is None:
        return "pytest" not in modules  # a test run, like `manage.py test`
    if command not in CONNECTING_COMMANDS:
        return False
    assert argv is not None  # a command comes with its argv
    if command == "runserver" and "--noreload" not in argv:
        # Django's own test (ManagementUtility.execute) for "the autoreloader runs".
        # Its parent only watches files; its child, marked RUN_MAIN=true, serves.
        return environ.get("RUN_MAIN") == "true"
    return True
