"""The request id each call carries (the X-Request-ID header), so that someone following
one slow page finds its calls in Python's log and in the host's.

Inside a Django request that passed through ``django_js_host.middleware.RequestIdMiddleware``
every call carries the request's own X-Request-ID when it has a usable one (see
protocol.REQUEST_ID), else an id made for that request: all the calls of one page share it.
Anywhere else (no middleware, a script, a task worker) each call gets an id of its own.

A context variable rather than a thread-local: it follows a request into async views and
into the threads sync_to_async runs sync code in, and each asyncio task has its own.
"""

from __future__ import annotations

import os
from contextvars import ContextVar

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from contextvars import Token

_current: ContextVar[str | None] = ContextVar("django_js_host_request_id", default=None)


def new_request_id() -> str:
    """A fresh id: 16 hex digits (64 random bits, ~0.4 us)."""
    return os.urandom(8).hex()


def current_request_id() -> str:
    """The id for a call made now: the current request's, or a fresh one."""
    return _current.get() or new_request_id()


def use_request_id(request_id: str) -> Token[str | None]:
    """Make ``request_id`` the current one, until ``reset_request_id`` with the token returned."""
    return _current.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _current.reset(token)
