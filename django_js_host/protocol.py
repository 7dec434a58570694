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
# POST /function/<name>?hash=<sha1 hex of the exact body bytes>: a caching proxy keys on it.
HASH_PARAMETER = "hash"
JSON_TYPE = "application/json"
JSON_HEADERS = {"Content-Type": JSON_TYPE}  # what every POST of JSON carries
# The shared token of a host that has one (host.config.js ``token``, or JS_HOST_TOKEN).
TOKEN_HEADER = "X-JS-Host-Token"

# Names go into the URL as they are, never percent-encoded, so only characters that need no
# escaping can be called (no '/', '?', '#', '%', CR or LF); '.' and '..' would be rewritten
# by URL normalisers. Used with fullmatch: its '$' then cannot match before a final newline.
CALLABLE_NAME = re.compile(r"^[A-Za-z0-9_$.-]+$")


def is_callable_name(name: object) -> bool:
    return isinstance(name, str) and CALLABLE_NAME.fullmatch(name) is not None and name not in (".", "..")


def call_path(name: str, body: bytes) -> str:
    """The path of a call of ``name`` with the JSON ``body`` (bytes)."""
    return f"{FUNCTION_PATH}{name}?{HASH_PARAMETER}={hashlib.sha1(body).hexdigest()}"


def batch_path(name: str, body: bytes) -> str:
    """The path of a batch of calls of ``name`` with the JSON ``body`` (bytes)."""
    return f"{BATCH_PATH}{name}?{HASH_PARAMETER}={hashlib.sha1(body).hexdigest()}"


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
