"""Call JavaScript functions that live in a persistent Node.js host, from Python and Django.

    from django_js_host import Function
    Function('hello_world').call(name='Foo')

The default host is ``django_js_host.host.host``; it is not re-exported here because the
name would hide the ``django_js_host.host`` module.
"""

from .exceptions import (
    ConfigError,
    ConnectionError,
    FunctionError,
    FunctionNotFound,
    FunctionsDisabled,
    FunctionTimeout,
    JSHostError,
    ProcessError,
    UnexpectedResponse,
    UnknownHost,
)
from .function import Function
from .host import JSHost
from .links.manager import JSHostManager

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConnectionError",
    "Function",
    "FunctionError",
    "FunctionNotFound",
    "FunctionsDisabled",
    "FunctionTimeout",
    "JSHost",
    "JSHostError",
    "JSHostManager",
    "ProcessError",
    "UnexpectedResponse",
    "UnknownHost",
]
