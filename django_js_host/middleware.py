"""RequestIdMiddleware: the calls a request makes carry its id (see request_id.py).

    MIDDLEWARE = ["django_js_host.middleware.RequestIdMiddleware", ...]

Put it first, so calls made by other middleware carry the id too. A middleware rather than a
``request_started`` receiver: under ASGI, Django sends that signal to sync receivers in a
task of their own, so a context variable set there never reaches the view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .protocol import is_request_id
from .request_id import new_request_id, reset_request_id, use_request_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from django.http import HttpRequest, HttpResponseBase

# X-Request-ID as Django's request.META names it.
REQUEST_ID_META = "HTTP_X_REQUEST_ID"


def request_id_of(request: HttpRequest) -> str:
    """The request's X-Request-ID when it is one the host accepts, else a fresh id."""
    given = request.META.get(REQUEST_ID_META)
    return str(given) if is_request_id(given) else new_request_id()


class RequestIdMiddleware:
    """Makes the request's id (its X-Request-ID, or one made for it) the id of every call
    it makes, for sync and async views alike."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self._acall(request)
        token = use_request_id(request_id_of(request))
        try:
            return self.get_response(request)  # type: ignore[no-any-return]  # a response, in sync mode
        finally:
            reset_request_id(token)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        token = use_request_id(request_id_of(request))
        try:
            response: HttpResponseBase = await self.get_response(request)  # async mode
            return response
        finally:
            reset_request_id(token)
