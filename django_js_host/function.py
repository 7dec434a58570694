"""Function: call a function that lives on a JS host.

    from django_js_host.function import Function
    Function('hello_world').call(name='Foo')   # 'Hello, Foo!'

Keyword arguments travel as JSON with sorted keys, so equal arguments give equal bytes and
an equal ``hash`` in the URL, which a caching proxy can key on.
"""

import hashlib
import json

from .conf import settings

# orjson, when installed, decodes a big result twice as fast as json.loads (~290 vs ~600 us
# for 74 KB). It is imported on the first big result (importing it costs a fresh process
# ~12 ms), and never encodes arguments: their bytes, and so their hash, must stay the
# seed's (json.dumps with its default separators).
ORJSON_FROM_BYTES = 16 * 1024
orjson_loads = ...  # not looked for yet; None when not installed


def decode_json(data):
    global orjson_loads
    if len(data) >= ORJSON_FROM_BYTES:
        if orjson_loads is ...:
            try:
                from orjson import loads as orjson_loads
            except ImportError:
                orjson_loads = None
        if orjson_loads is not None:
            try:
                return orjson_loads(data)
            except ValueError:
                pass  # a lone surrogate (JS strings may hold one), which only json.loads keeps
    return json.loads(data)
from .exceptions import FunctionError, FunctionNotFound, UnexpectedResponse
from .host import host as default_host


class Function:
    """A named function on a host; ``host`` binds lazily to the default host."""

    def __init__(self, name, host=None, timeout=None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"A function name must be a non-empty string, got {name!r}")
        self.name = name
        self.host = host
        self.timeout = timeout

    def __repr__(self):
        return f"<Function {self.name!r}>"

    def get_host(self):
        return default_host if self.host is None else self.host

    def get_timeout(self):
        return settings.FUNCTION_TIMEOUT if self.timeout is None else self.timeout

    def call(self, **kwargs):
        """Call the function and return its output as the host sent it.

        A string comes back as ``str``, any other value as its JSON text (40 -> '40'),
        bytes (a Buffer) as ``bytes``. Use ``call_json`` to get Python values instead.
        """
        return _as_sent(self._checked(self.get_host().post_function(*self._request(kwargs))))

    def call_json(self, **kwargs):
        """Call the function and return its output as a Python value.

        Objects, arrays, numbers, booleans and null are decoded from JSON; a string output
        comes back as ``str`` and a Buffer as ``bytes``.
        """
        return _as_value(self._checked(self.get_host().post_function(*self._request(kwargs))))

    async def acall(self, **kwargs):
        """``call`` for async code (async views, ASGI): awaits without blocking the loop."""
        return _as_sent(self._checked(await self.get_host().apost_function(*self._request(kwargs))))

    async def acall_json(self, **kwargs):
        """``call_json`` for async code."""
        return _as_value(self._checked(await self.get_host().apost_function(*self._request(kwargs))))

    def _request(self, kwargs):
        """(name, body, hash, timeout) of a call: the arguments of post_function."""
        body = encode_kwargs(self.name, kwargs)
        return self.name, body, hashlib.sha1(body).hexdigest(), self.get_timeout()

    def _checked(self, response):
        if response.status != 200:
            raise self._error_for(response)
        return response

    def _error_for(self, response):
        """The exception that a non-200 answer stands for."""
        error = _json_object(response)
        if response.status == 500 and "message" in error:
            return FunctionError(
                self.name, error.get("name", "Error"), error["message"], error.get("stack", "")
            )
        if response.status == 404 and "message" in error:
            return FunctionNotFound(error["message"])
        detail = error.get("message") or response.body[:300].decode("utf-8", "replace")
        return UnexpectedResponse(
            f"Calling function {self.name!r} at {response.url} answered "
            f"{response.status}: {detail}",
            response.status,
            response.body,
        )


def _as_sent(response):
    if response.content_type.startswith("application/octet-stream"):
        return response.body
    return response.body.decode("utf-8")


def _as_value(response):
    if response.content_type.startswith("application/json"):
        return decode_json(response.body)
    return _as_sent(response)


def encode_kwargs(function_name, kwargs):
    """JSON bytes for the kwargs: sorted keys and json.dumps' default separators.

    The default separators keep the hash of {'foo': 'bar'} what the seed's library sent.
    A value JSON cannot hold raises TypeError (or ValueError, for NaN and infinities) that
    names where it sits, before anything is sent.
    """
    try:
        text = json.dumps(kwargs, default=_encode_django_value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        where = _find_unencodable(kwargs) or "an argument"
        raise type(error)(
            f"Function {function_name!r}: {where} cannot be sent as JSON: {error}"
        ) from None
    return text.encode("ascii")  # json.dumps escapes non-ASCII by default


def _encode_django_value(value):
    """Encode what plain JSON cannot (datetime, Decimal, UUID, lazy strings) as Django does.

    Imported on first use: django.core.serializers pulls in the ORM, which plain calls
    should not pay for at start-up.
    """
    from django.core.serializers.json import DjangoJSONEncoder

    return DjangoJSONEncoder().default(value)


def _find_unencodable(value, path=()):
    """Describe the first part of ``value`` that JSON cannot encode, e.g. "argument 'when'"."""
    if isinstance(value, dict):
        if path and len({type(key) for key in value}) > 1:
            return _describe(path) + " (its keys mix types, so they cannot be sorted)"
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        try:
            json.dumps(value, default=_encode_django_value, allow_nan=False)
        except (TypeError, ValueError):
            return _describe(path)
        return None
    for key, item in items:
        found = _find_unencodable(item, (*path, key))
        if found:
            return found
    return None


def _describe(path):
    argument, *inside = path
    where = "".join(f"[{key!r}]" for key in inside)
    return f"argument {argument!r}" + (f" at {where}" if where else "")


def _json_object(response):
    if not response.content_type.startswith("application/json"):
        return {}
    try:
        decoded = json.loads(response.body)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}
