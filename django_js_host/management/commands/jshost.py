"""manage.py jshost start|stop|restart|status|logs: the JS host of JS_HOST['CONFIG_FILE'];
``init`` writes a starter host.config.js and package.json (starter.py).

Two kinds of host, two behaviours:

* A host you run yourself (USE_MANAGER=False, production): ``start`` runs it in the
  foreground, replacing this process (``exec``), so your supervisor (systemd, supervisor,
  PM2, a container) signals and watches node itself; SIGTERM or Ctrl-C stops it and its
  exit code is the command's. ``stop``, ``restart`` and ``logs`` are the supervisor's job.
* A managed host (USE_MANAGER=True, development): ``start`` asks the manager for it,
  ``stop`` and ``restart`` tell the manager, ``logs`` reads the logfile the manager gives it.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.core.management.base import BaseCommand, CommandError

from ...checks import find_node
from ...conf import node_not_found, settings
from ...exceptions import ConnectionError, JSHostError, UnknownHost
from ...host import host
from ...links.manager import start_failure
from ...starter import next_steps, write_starter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from django.core.management.base import CommandParser

SUPERVISOR_COMMANDS = (
    "`systemctl {0} UNIT`, `supervisorctl {0} PROGRAM`, `pm2 {0} NAME`, `docker {0} CONTAINER`"
)
# Where Python looks for a managed host, for "not running" messages.
ONLY_MANAGED = (
    "(With USE_MANAGER on, Python asks the manager only: a host you started yourself is not "
    "used unless USE_MANAGER is False.)"
)
FOLLOW_INTERVAL = 0.2  # seconds between looks at a followed logfile
# The options of `start` that go on to js-host.js, as --port, --max-requests ...
HOST_OPTIONS = ("port", "address", "socket", "logfile", "workers", "max_requests", "max_requests_jitter", "max_memory")


class Command(BaseCommand):
    help = "Start, stop, restart and inspect the JS host that serves JS_HOST['CONFIG_FILE']."

    # These commands operate hosts: `stop` and `logs` must work while the config file is
    # broken, and a check loading it (E003) would start node for nothing.
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(title="subcommands", dest="subcommand", required=True)

        start = subcommands.add_parser(
            "start",
            help="Run the host in the foreground (or, with USE_MANAGER, start a managed one).",
        )
        start.add_argument("--port", type=int, help="listen on this port (0: any free port)")
        start.add_argument("--address", help="listen on this address")
        start.add_argument("--socket", help="listen on this Unix socket (instead of a port)")
        start.add_argument("--logfile", help="also append the host's output to this file")
        start.add_argument("--workers", help="N worker processes on node:cluster, or auto (one per CPU)")
        start.add_argument("--max-requests", type=int, help="recycle a worker after N requests")
        start.add_argument(
            "--max-requests-jitter", type=int, help="add 0 to J to each worker's --max-requests"
        )
        start.add_argument("--max-memory", type=int, help="recycle a worker over MB megabytes of RSS")
        start.set_defaults(method=self.start)

        subcommands.add_parser("stop", help="Stop the managed host.").set_defaults(method=self.stop)
        subcommands.add_parser(
            "restart", help="Restart the managed host (same port, logfile and connections)."
        ).set_defaults(method=self.restart)
        subcommands.add_parser(
            "status", help="Show the running host: URL, pid, functions, stale code ..."
        ).set_defaults(method=self.status)

        logs = subcommands.add_parser("logs", help="Print the end of the managed host's logfile.")
        logs.add_argument(
            "-n", "--lines", type=_count, default=20, help="how many lines (default 20)"
        )
        logs.add_argument(
            "-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C"
        )
        logs.set_defaults(method=self.logs)

        init = subcommands.add_parser(
            "init", help="Write a starter host.config.js and package.json into SOURCE_ROOT."
        )
        init.add_argument(
            "--react", action="store_true",
            help="a React component rendered by the host and hydrated in the browser (esbuild)",
        )  # fmt: skip
        init.add_argument("--force", action="store_true", help="overwrite files that exist")
        init.set_defaults(method=self.init)

    def handle(self, *args: Any, method: Callable[..., None], **options: Any) -> None:
        with _as_command_errors():
            method(**options)

    # --- start ---

    def start(self, **options: Any) -> None:
        host_options = {
            f"--{name.replace('_', '-')}": options[name]
            for name in HOST_OPTIONS
            if options[name] is not None
        }
        if host.manager is None:
            self.run_host_in_foreground(host_options)
            return
        if host_options:
            raise CommandError(
                f"{', '.join(host_options)} only go with a host you run yourself: the manager "
                "(USE_MANAGER=True) runs a managed host as one process, on a socket and "
                "logfile of its choosing."
            )
        was_running = host.is_running()
        try:
            status = host.connect()
            url, logfile = host.get_url(), host.logfile
        finally:
            # What the real command does as it exits; in-process (call_command) too.
            host.disconnect()
        verb = "was already running" if was_running else "started"
        self.stdout.write(f"The JS host for {host.config_file} {verb}.")
        self._write_fields(url=url, pid=status["pid"], logfile=logfile)
        self.stdout.write(
            f"It stops {settings.DISCONNECT_TIMEOUT:g} s after its last connection closes, and "
            "this command's connection closed as the command finished: start a server or a "
            "shell within that time (runserver and shell connect at start-up) to keep it."
        )

    def run_host_in_foreground(self, host_options: dict[str, Any]) -> None:
        """Become ``node js-host.js CONFIG_FILE [options]`` in SOURCE_ROOT (never returns).

        js-host.js checks the options' values itself, and exits 2 naming a bad one.
        """
        node = settings.PATH_TO_NODE
        if find_node(node, settings.SOURCE_ROOT) is None:
            raise CommandError(str(node_not_found(node)))
        self._warn_if_python_looks_elsewhere(host_options)
        command = [node, settings.PATH_TO_BIN, settings.CONFIG_FILE]
        for flag, value in host_options.items():
            command += [flag, str(value)]
        # exec, not a child process: signals from a supervisor or Ctrl-C reach node
        # directly, node drains its calls, and its exit code is ours.
        sys.stdout.flush()
        sys.stderr.flush()
        cwd = os.getcwd()
        os.chdir(settings.SOURCE_ROOT)
        try:
            os.execvpe(node, command, host_environ())
        except OSError as error:
            os.chdir(cwd)
            raise CommandError(f"Cannot run {' '.join(command)}: {error}") from None

    def _warn_if_python_looks_elsewhere(self, host_options: dict[str, Any]) -> None:
        """--socket, --port and --address reach the host only: without ROOT_URL, this
        project's Python looks for it where the config file says, so say so when that differs."""
        socket, port, address = (host_options.get(f"--{key}") for key in ("socket", "port", "address"))
        if settings.ROOT_URL or (socket is None and port is None and address is None):
            return
        config = host.get_config()
        listens = _where(config.get("socket"), config.get("port"), config.get("address"))
        if socket:
            will_listen = _where(socket=os.path.abspath(socket))
        else:
            will_listen = _where(
                config.get("socket"),
                config.get("port") if port is None else port,
                config.get("address") if address is None else address,
            )
        if will_listen == listens:
            return
        self.stderr.write(
            f"Warning: the host will listen at {will_listen}, but without ROOT_URL this "
            f"project's Python calls the one {host.config_file} says ({listens}). Set it in "
            "the config file, or point JS_HOST['ROOT_URL'] at the host."
        )

    # --- stop, restart ---

    def stop(self, **options: Any) -> None:
        self._require_manager("stop")
        info = self._managed_host_info()
        if info["state"] == "exited":
            raise self._not_running(info)
        host.stop()
        self.stdout.write(
            f"Stopped the JS host for {host.config_file} (pid {info['pid']}, {info['url']})."
        )
        if info["connections"]:
            self.stdout.write(
                f"{info['connections']} connection(s) from Python processes were open: their "
                "next call asks the manager again, which starts a new host."
            )

    def restart(self, **options: Any) -> None:
        self._require_manager("restart")
        self._managed_host_info()  # "not running" if the manager does not know it
        info = host.restart()
        self.stdout.write(f"Restarted the JS host for {host.config_file}.")
        self._write_fields(url=info["url"], pid=info["pid"], logfile=info["logfile"])

    def _require_manager(self, action: str) -> None:
        if host.manager is not None:
            return
        # Not a SIGTERM to the pid that /status reports: that pid comes from whatever
        # answers at the URL (behind ROOT_URL, another machine's), and a supervisor would
        # restart what we stopped, so `stop` would not mean stopped.
        running = ""
        try:
            running = f" The host at {host.get_url()} runs as pid {host.request_status()['pid']}."
        except JSHostError:
            pass
        raise CommandError(
            f"`jshost {action}` controls a managed host (USE_MANAGER=True). A host you run "
            f"yourself answers to its supervisor: {SUPERVISOR_COMMANDS.format(action)}, or "
            f"Ctrl-C in the terminal running `manage.py jshost start`.{running}"
        )

    # --- status ---

    def status(self, **options: Any) -> None:
        if host.manager is not None:
            info = self._managed_host_info()
            if info["state"] != "running":
                raise self._not_running(info)
            status, url, stale = info["status"], info["url"], info["stale"]
        else:
            url = host.get_url()
            try:
                status = host.connect()  # also proves it serves our config file
            except ConnectionError:
                raise CommandError(f"Not running: no JS host answers at {url}, {_where_python_looks()}") from None
            # Behind ROOT_URL the host's files may be on another machine.
            stale = None if settings.ROOT_URL else host.is_stale()
        config = status["config"]
        self.stdout.write(f"The JS host for {host.config_file} is running.")
        self._write_fields(
            url=url,
            pid=status["pid"],
            node=status.get("node", "unknown"),
            node_env=status.get("nodeEnv") or "not set (libraries run their development builds)",
            version=status.get("version", "unknown"),
            config_file=config["configFile"],
            module=_describe_format(config.get("configFormat")),
            functions=", ".join(config["functions"]) or "(none)",
            stale=_describe_stale(stale),
        )
        if host.manager is not None:
            self._write_fields(
                manager=host.manager.url, connections=info["connections"], logfile=info["logfile"]
            )

    # --- logs ---

    def logs(self, lines: int, follow: bool, **options: Any) -> None:
        if host.manager is None:
            raise CommandError(
                "`jshost logs` reads a managed host's logfile (USE_MANAGER=True). A host you "
                "run yourself logs to its stdout and stderr, which your supervisor keeps "
                "(`journalctl -u UNIT`, `supervisorctl tail -f PROGRAM`, `pm2 logs NAME`, "
                "`docker logs CONTAINER`), and to the file given to `jshost start --logfile`."
            )
        logfile = self._managed_host_info()["logfile"]
        try:
            with open(logfile, "rb") as log:
                self.stdout.write(b"".join(last_lines(log, lines)).decode("utf-8", "replace"), ending="")
                if follow:
                    self.follow(log)
        except FileNotFoundError:
            raise CommandError(f"The logfile {logfile} does not exist (yet).") from None

    def follow(self, log: IO[bytes]) -> None:
        """Print what is appended to ``log`` until Ctrl-C; start over if it is truncated."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.stdout.flush()
        try:
            while True:
                if os.fstat(log.fileno()).st_size < log.tell():
                    log.seek(0)
                text = decoder.decode(log.read())
                if text:
                    self.stdout.write(text, ending="")
                    self.stdout.flush()
                time.sleep(FOLLOW_INTERVAL)
        except KeyboardInterrupt:
            pass

    # --- init ---

    def init(self, react: bool, force: bool, **options: Any) -> None:
        directory = Path(settings.SOURCE_ROOT)
        try:
            written = write_starter(directory, react=react, force=force)
        except OSError as error:  # FileExistsError names the files that exist
            raise CommandError(str(error)) from None
        self.stdout.write(f"Wrote into {directory}:")
        for path in written:
            self.stdout.write(f"  {path.relative_to(directory)}")
        base_dir = getattr(django_settings, "BASE_DIR", None)
        self.stdout.write(next_steps(directory, Path(settings.CONFIG_FILE), base_dir, react=react))

    # --- helpers ---

    def _managed_host_info(self) -> dict[str, Any]:
        """What the manager knows of our host; CommandError "not running" if nothing."""
        manager = host.manager
        assert manager is not None  # asked for a managed host only
        try:
            return manager.host_status(host.config_file)
        except ConnectionError:
            raise CommandError(
                f"Not running: no manager answers at {manager.url}, so no managed host for "
                f"{host.config_file} runs. `manage.py jshost start` starts one. {ONLY_MANAGED}"
            ) from None
        except UnknownHost:
            raise CommandError(
                f"Not running: the manager at {manager.url} runs no host for "
                f"{host.config_file}. `manage.py jshost start` starts one. {ONLY_MANAGED}"
            ) from None

    def _not_running(self, info: dict[str, Any]) -> CommandError:
        failure = info.get("startError")
        if failure:
            why = start_failure(host.config_file, {**failure, "logfile": info["logfile"]})
            return CommandError(f"Not running: {why}")
        exit = info.get("exit") or {}
        how = f"signal {exit['signal']}" if exit.get("signal") else f"exit code {exit.get('code')}"
        return CommandError(
            f"Not running: the managed JS host for {host.config_file} exited ({how}); its "
            f"logfile {info['logfile']} says why. `manage.py jshost restart` starts it again."
        )

    def _write_fields(self, **fields: object) -> None:
        for name, value in fields.items():
            label = f"{name.replace('_', ' ')}:"
            self.stdout.write(f"  {label:<12} {value}")


@contextmanager
def _as_command_errors() -> Iterator[None]:
    """Any JSHostError (a config that does not load, a manager that refused ...) as a CommandError."""
    try:
        yield
    except JSHostError as error:
        raise CommandError(str(error)) from error


def host_environ() -> dict[str, str]:
    """The environment of a host run in the foreground: with DEBUG off, NODE_ENV=production
    unless the environment sets NODE_ENV. React and most libraries run their development
    builds without it, several times slower (4.4 ms against 0.95 ms of host CPU per
    server-rendered page in benchmarks/ssr.py)."""
    environ = dict(os.environ)
    if not django_settings.DEBUG and not environ.get("NODE_ENV"):
        environ["NODE_ENV"] = "production"
    return environ


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, got {text!r}")
    return value


def _where(socket: str | None = None, port: int | None = None, address: str | None = None) -> str:
    """Where a host listens, as its config or command line says, in a URL's words."""
    return f"unix:{socket}" if socket else f"{address}:{port}"


# GET /status's configFormat: Node's name for how it ran the config file.
FORMATS = {
    "commonjs": "CommonJS",
    "module": "ES module",
    "commonjs-typescript": "CommonJS (TypeScript)",
    "module-typescript": "ES module (TypeScript)",
}


def _describe_format(format: str | None) -> str:
    return FORMATS.get(format or "", "unknown (the host does not say)")


def _where_python_looks() -> str:
    """Why Python looks for the host where it does, and what to change if it runs elsewhere."""
    if settings.ROOT_URL:
        return (
            "where JS_HOST['ROOT_URL'] sends every call. Start the host (or the proxy in front of "
            "it) there, or point ROOT_URL where it runs."
        )
    keys = "`socket`" if host.get_config().get("socket") else "`address` and `port`"
    return (
        f"which is where Python looks, as {host.config_file} says (its {keys}). A host started "
        "with --port, --address or --socket listens elsewhere, where Python does not look: put "
        "that in the config file, or point JS_HOST['ROOT_URL'] at the host. If none runs, start "
        "it with `manage.py jshost start`, or under your supervisor."
    )


def _describe_stale(stale: bool | None) -> str:
    if stale is None:
        return "unknown (behind ROOT_URL the host's files may be on another machine)"
    if stale:
        return "yes: its JS files changed since it loaded them; restart it to run the current code"
    return "no"


def last_lines(file: IO[bytes], count: int, block_size: int = 64 * 1024) -> list[bytes]:
    """The last ``count`` lines of a binary ``file``, read backwards from its end; leaves
    the file positioned at its end."""
    end = file.seek(0, os.SEEK_END)
    if count == 0:
        return []
    position, data = end, b""
    # count + 1 newlines: the file's final newline ends the last line rather than starting one.
    while position > 0 and data.count(b"\n") <= count:
        position = max(0, position - block_size)
        file.seek(position)
        data = file.read(end - position)
    file.seek(end)
    return data.splitlines(keepends=True)[-count:]
