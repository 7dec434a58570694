"""Errors a caller can act on, all under one base class.

Each subclass names one kind of failure and what to do about it: the message says
which setting, file, URL or logfile is involved.
"""

from __future__ import annotations

import builtins


class JSHostError(Exception):
    """Base class of every error raised by django_js_host."""


class ConfigError(JSHostError):
    """A setting or the host's config file is wrong; the message names which."""


class ConnectionError(JSHostError, builtins.ConnectionError):
    """Nothing answered at the host's URL (not started, wrong port, or it went away).

    Also a builtins.ConnectionError, so code that handles network failures generically
    keeps working.
    """


class ProcessError(JSHostError):
    """A host process started for us died or could not start; the message names its logfile."""


class UnknownHost(ProcessError):
    """The manager has no host for that config file (it was stopped, or never started)."""


class FunctionError(JSHostError):
    """The JavaScript function failed: it threw, rejected, or passed an error to its callback.

    ``js_name``, ``js_message`` and ``js_stack`` carry the JS error as the host reported it.
    """

    def __init__(self, function: str, js_name: str, js_message: str, js_stack: str = "") -> None:
        self.function = function
        self.js_name = js_name
        self.js_message = js_message
        self.js_stack = js_stack
        message = f"{js_name}: {js_message}"
        if js_stack:
            message += f"\n\nJavaScript stack of function {function!r}:\n{js_stack}"
        super().__init__(message)


class FunctionsDisabled(JSHostError):
    """Calls are switched off (JS_HOST['ENABLED'] is False): a kill switch for when the JS
    side must not be used. A Function with a ``fallback`` returns it instead; a template
    tag renders its fallback."""


class FunctionNotFound(JSHostError):
    """The host does not define a function by that name: check the name and the config file."""


class FunctionTimeout(JSHostError, TimeoutError):
    """The host did not answer within the timeout (FUNCTION_TIMEOUT or Function(timeout=...))."""


class UnexpectedResponse(JSHostError):
    """The host (or a proxy in front of it) answered in a way the protocol does not allow.

    ``status`` and ``body`` hold what came back, for debugging.
    """

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        self.status = status
        self.body = body
        super().__init__(message)
