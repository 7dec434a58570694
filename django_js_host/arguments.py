"""A call's arguments as the JSON bytes it sends: sorted keys, so equal arguments give equal
bytes and an equal ``hash`` in the URL, which a caching proxy can key on.

Two encoders, one meaning. Arguments that are all plain scalars (str, int, float, bool,
None) are encoded by ``json.dumps``, so their bytes and hash are the seed's:
``{'foo': 'bar'}`` is ``{"foo": "bar"}`` and hashes to bc4919c6…. Arguments holding lists,
dicts or other values (a page's props) are encoded by orjson, compact and in UTF-8, about
ten times faster: what a server-side render spends most of its Python time on otherwise.
Where orjson would not say the same as ``json.dumps`` (an int past 64 bits, a key that is
not a string, a lone surrogate, nesting past 255 levels, a float subclass), or where its
``null`` may stand for a NaN or an infinity (which orjson writes as null and JSON cannot
hold), ``json.dumps`` decides: it encodes the value or raises the error that names it.
Either way ``datetime``, ``Decimal``, ``UUID`` and lazy strings encode as Django's
``DjangoJSONEncoder`` does, and an ``Enum`` as its value.
"""

from __future__ import annotations

import json
from enum import Enum
from math import isfinite

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

# Arguments of only these are encoded by json.dumps (see the module's docstring).
SCALARS = frozenset({str, int, float, bool, type(None)})


def encode_kwargs(function_name: str, kwargs: Mapping[str, Any]) -> bytes:
    """The JSON bytes of a call's keyword arguments.

    A value JSON cannot hold raises TypeError (or ValueError, for NaN and infinities) that
    names where it sits, before anything is sent.
    """
    for value in kwargs.values():
        if type(value) not in SCALARS:
            encoded = _orjson_bytes(kwargs)
            if encoded is not None:
                return encoded
            break
    try:
        return "".join(_json_chunks(kwargs, 0)).encode("ascii")  # json.dumps escapes non-ASCII by default
    except (TypeError, ValueError, RecursionError) as error:
        raise _unencodable(function_name, error, lambda: _find_unencodable(kwargs)) from None


def encode_batch(function_name: str, calls: Iterable[object]) -> bytes:
    """The JSON bytes of a batch: the list of each call's keyword arguments.

    Errors name the call by its position in ``calls``.
    """
    calls = list(calls)
    for index, kwargs in enumerate(calls):
        if not isinstance(kwargs, dict):
            raise TypeError(
                f"Function {function_name!r}: batch call {index} must be a dict of keyword "
                f"arguments, got {type(kwargs).__name__}"
            )
        for key in kwargs:
            if not isinstance(key, str):
                raise TypeError(
                    f"Function {function_name!r}: batch call {index} has the key {key!r}: "
                    "keyword argument names are strings"
                )
    encoded = _orjson_bytes(calls)
    if encoded is not None:
        return encoded

    def locate() -> str | None:
        for index, kwargs in enumerate(calls):
            where = _find_unencodable(kwargs)
            if where:
                return f"batch call {index}: {where}"
        return None

    try:
        return "".join(_json_chunks(calls, 0)).encode("ascii")
    except (TypeError, ValueError, RecursionError) as error:
        raise _unencodable(function_name, error, locate) from None


def _orjson_bytes(value: object) -> bytes | None:
    """orjson's bytes for ``value``, or None where json.dumps must decide."""
    global _orjson_dumps
    if _orjson_dumps is None:
        _orjson_dumps = _make_orjson_dumps()
    try:
        encoded = _orjson_dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return None
    if b"null" in encoded and not _all_finite(value):
        return None
    return encoded


def _make_orjson_dumps() -> Callable[[object], bytes]:
    # Imported on the first call with a list or dict: importing orjson costs a fresh process
    # ~12 ms (dataclasses, uuid, datetime), which a Django process has paid already.
    import orjson

    # Datetimes and dataclasses through _encode_django_value, as json.dumps has them: orjson's
    # own datetimes keep microseconds (Django's stop at milliseconds), and json.dumps refuses
    # dataclasses. Subclasses of str, int, dict and list encode as json.dumps does them.
    options = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    dumps = orjson.dumps

    def orjson_dumps(value: object) -> bytes:
        return dumps(value, _encode_django_value, options)

    return orjson_dumps


_orjson_dumps: Callable[[object], bytes] | None = None


def _all_finite(value: object) -> bool:
    """False if a float in ``value`` (where orjson looks) is a NaN or an infinity."""
    items: Iterable[object]
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, float):
        return isfinite(value)
    elif isinstance(value, Enum):
        return _all_finite(value.value)
    else:
        return True
    for item in items:
        kind = type(item)
        if kind is float:
            if not isfinite(item):
                return False
        elif kind not in SCALARS and not _all_finite(item):
            return False
    return True


def _encode_django_value(value: object) -> Any:
    """Encode what plain JSON cannot (datetime, Decimal, UUID, lazy strings) as Django does,
    and an Enum as its value (as orjson does).

    Imported on first use: django.core.serializers pulls in the ORM, which plain calls
    should not pay for at start-up.
    """
    if isinstance(value, Enum):
        return value.value
    from django.core.serializers.json import DjangoJSONEncoder

    return DjangoJSONEncoder().default(value)


def _json_encoder() -> Callable[[object, int], Iterable[str]]:
    """What ``json.dumps(value, sort_keys=True, allow_nan=False, default=_encode_django_value)``
    joins into its text, made once: ``_json_chunks(value, 0)``.

    json.dumps builds a JSONEncoder per call, and JSONEncoder.encode builds the C encoder
    per call: the C encoder made once is ~1 us cheaper on a trivial call. No circular check:
    it costs 15 % of encoding 100 KB, and a value that contains itself still fails, by
    recursion, which _unencodable reports and _find_unencodable locates.
    """
    encoder = json.JSONEncoder(default=_encode_django_value, sort_keys=True, allow_nan=False, check_circular=False)
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)  # None without the _json module
    if make_c_encoder is None:
        return lambda value, _: encoder.iterencode(value, _one_shot=True)
    # Its arguments as JSONEncoder.iterencode passes them (Python 3.10 to 3.13 alike).
    c_encoder: Callable[[object, int], Iterable[str]] = make_c_encoder(
        None, encoder.default, json.encoder.encode_basestring_ascii, None,
        encoder.key_separator, encoder.item_separator, True, False, False,
    )  # fmt: skip
    return c_encoder


_json_chunks = _json_encoder()


def _unencodable(
    function_name: str, error: TypeError | ValueError | RecursionError, locate: Callable[[], str | None]
) -> TypeError | ValueError:
    """The error to raise for a value JSON cannot hold; ``locate()`` says where it sits."""
    try:
        where = locate() or "an argument"
    except RecursionError:  # nested deeper than Python recurses
        where = "an argument"
    if isinstance(error, RecursionError):  # no circular check: see _json_encoder
        error = ValueError("it is circular or nests too deeply")
    return type(error)(f"Function {function_name!r}: {where} cannot be sent as JSON: {error}")


def _find_unencodable(value: object, path: tuple[object, ...] = (), inside: tuple[int, ...] = ()) -> str | None:
    """Describe the first part of ``value`` that JSON cannot encode, e.g. "argument 'when'".

    ``inside``: the ids of the containers ``value`` is in, to find one that contains itself.
    """
    items: Iterable[tuple[object, object]]
    if isinstance(value, (dict, list, tuple)):
        if id(value) in inside:
            return _describe(path) + " (it contains itself)"
        inside = (*inside, id(value))
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
        found = _find_unencodable(item, (*path, key), inside)
        if found:
            return found
    return None


def _describe(path: tuple[object, ...]) -> str:
    argument, *inside = path
    where = "".join(f"[{key!r}]" for key in inside)
    return f"argument {argument!r}" + (f" at {where}" if where else "")
