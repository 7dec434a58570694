"""The wire rules Python and the host share: paths, the name rule, the headers, the hash of a
call's body, the hash of a host's source files, and which error an answer stands for.

``js/lib/protocol.js`` is the host's copy; ``tests/test_protocol.py`` runs it and holds the
two equal, so change both together.
"""

from __future__ import annotations

import hashlib
import json
import re

from .exceptions import FunctionError, FunctionNotFound, UnexpectedResponse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from .exceptions import JSHostError
    from .transport import Response

STATUS_PATH = "/status"
FUNCTION_PATH = "/function/"
BATCH_PATH = "/batch/"
# A call whose answer may come in pieces (its own path: a cache keyed on the URL never mixes
# streamed and whole answers).
STREAM_PATH = "/stream/"
# POST /function/<name>?hash=<sha1 hex of the exact body bytes>: a caching proxy keys on it.
HASH_PARAMETER = "hash"
JSON_TYPE = "application/json"
JSON_HEADERS = {"Content-Type": JSON_TYPE}  # what every POST of JSON carries
# The shared token of a host that has one (host.config.js ``token``, or JS_HOST_TOKEN).
TOKEN_HEADER = "X-JS-Host-Token"

# The id a call carries, so one page's calls can be found in Python's log and the host's
# (Django's X-Request-ID when the request has one). An id that breaks the rule is not sent,
# and a host ignores one: it goes into log lines, which must stay one line each and plain.
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,200}$")
# A streamed answer: 200 with this Content-Type is a series of records, each its kind (one
# letter), its payload's length in bytes (decimal), ":" and the payload. STREAM_DATA records
# carry the text, UTF-8 split anywhere; the last record is STREAM_END (empty), or
# STREAM_ERROR with the error as JSON {name, message, stack, function}, after which the host
# closes the connection without ending the chunked body. Any other answer to a stream call
# is the function's output whole, or an error, as a call's. (streaming.py reads them.)
STREAM_TYPE = "application/x-js-host-stream"
STREAM_DATA = b"d"
STREAM_ERROR = b"e"
STREAM_END = b"z"

# Names go into the URL as they are, never percent-encoded, so only characters that need no
# escaping can be called (no '/', '?', '#', '%', CR or LF); '.' and '..' would be rewritten
# by URL normalisers. Used with fullmatch: its '$' then cannot match before a final newline.
CALLABLE_NAME = re.compile(r"^[A-Za-z0-9_$.-]+$")


def is_callable_name(name: object) -> bool:
    return isinstance(name, str) and CALLABLE_NAME.fullmatch(name) is not None and name not in (".", "..")


def is_request_id(value: object) -> bool:
    return isinstance(value, str) and REQUEST_ID.fullmatch(value) is not None


def call_path(name: str, body: bytes) -> str:
    """The path of a call of ``name`` with the JSON ``body`` (bytes)."""
    return f"{FUNCTION_PATH}{name}?{HASH_PARAMETER}={_sha1_hex(body)}"


def batch_path(name: str, body: bytes) -> str:
    """The path of a batch of calls of ``name`` with the JSON ``body`` (bytes)."""
    return f"{BATCH_PATH}{name}?{HASH_PARAMETER}={_sha1_hex(body)}"


def stream_path(name: str, body: bytes) -> str:
    """The path of a streamed call of ``name`` with the JSON ``body`` (bytes)."""
    return f"{STREAM_PATH}{name}?{HASH_PARAMETER}={_sha1_hex(body)}"


def _sha1_hex(data: bytes) -> str:
    # A copy of an empty sha1 rather than hashlib.sha1(data): it skips looking up the digest
    # in OpenSSL, about 1 us of a trivial call (the lookup's code and locks are cold by the
    # time Python runs again). Copies never write to the original, so threads may share it.
    digest = _EMPTY_SHA1.copy()
    digest.update(data)
    return digest.hexdigest()


_EMPTY_SHA1 = hashlib.sha1()


def source_hash(paths: Iterable[str]) -> str:
    """A host's sourceHash of ``paths``, recomputed from the files as they are now.

    sha1 hex over, for each path in the order given, ``path + "\\0" + (sha1 hex of the
    file's bytes, or "missing" when it cannot be read) + "\\n"``, in UTF-8.
    """
    digest = hashlib.sha1()
    for path in paths:
        try:
            with open(path, "rb") as source:
                part = hashlib.sha1(source.read()).hexdigest()
        except OSError:
            part = "missing"
        digest.update(f"{path}\0{part}\n".encode())
    return digest.hexdigest()


def function_error(function_name: str, error: dict[str, Any]) -> FunctionError:
    """The FunctionError of the host's ``{name, message, stack}`` for a call of ``function_name``."""
    return FunctionError(function_name, error.get("name", "Error"), error["message"], error.get("stack", ""))


def error_for(function_name: str, response: Response) -> JSHostError:
    """The exception that a non-200 answer to a call of ``function_name`` stands for."""
    error = json_object(response)
    if response.status == 500 and "message" in error:
        return function_error(function_name, error)
    if response.status == 404 and "message" in error:
        return FunctionNotFound(error["message"])
    detail = error.get("message") or response.body[:300].decode("utf-8", "replace")
    return UnexpectedResponse(
        f"Calling function {function_name!r} at {response.url} answered {response.status}: {detail}",
        response.status,
        response.body,
    )


def json_object(response: Response) -> dict[str, Any]:
    """The JSON object an answer carries, or {} when it carries none."""
    if not response.content_type.startswith(JSON_TYPE):
        return {}
    try:
        decoded = json.loads(response.body)
    except (ValueError, RecursionError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
