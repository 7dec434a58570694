"""What a call reports to someone following it: a DEBUG line on the ``django_js_host``
logger, and a record for the Django Debug Toolbar's panel (panels.py) while one records.

Both are off unless asked for, and a call pays one look to find out (``watch``: a context
variable and ``isEnabledFor``, about 0.1 us of a call's 100 us); only a watched call reads
the clock. The line has the host's word order, ``name outcome duration id=...``, so one
grep for the id finds a call on both sides::

    render_page 200 3.41ms id=3f2a9c1b0d4e5f60          (Python, logger django_js_host)
    2026-11-30T10:00:00.000Z render_page 200 2.97ms id=3f2a9c1b0d4e5f60   (the host)

and carries the same facts as ``extra`` (``js_function``, ``request_id``, ``duration_ms``,
``outcome``) for structured log handlers. A streamed answer's line is written at its end
and ends ``stream of N pieces`` (outcome ``closed`` when its reader stopped early).
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from time import perf_counter

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from contextvars import Token
    from logging import Logger
    from typing import Any

    from .host import JSHost
    from .transport import Response

    CallRecord = dict[str, Any]

DEBUG = 10  # logging.DEBUG, without importing logging (~5 ms of a fresh process)

# The calls of the current request while the debug toolbar's panel records them, else None.
_recording: ContextVar[list[CallRecord] | None] = ContextVar("django_js_host_recording", default=None)
_logger: Logger | None = None


def _debug_logger() -> Logger | None:
    """The ``django_js_host`` logger if it shows DEBUG lines, else None."""
    global _logger
    if _logger is None:
        logging: Any = sys.modules.get("logging")
        if logging is None:  # nothing imported logging, so nothing configured it to show them
            return None
        _logger = logging.getLogger("django_js_host")
    return _logger if _logger.isEnabledFor(DEBUG) else None


def watch(label: str, request_id: str, body: bytes, host: JSHost) -> CallWatch | None:
    """A CallWatch timing this call from now, or None if nobody follows calls."""
    recording = _recording.get()
    logger = _debug_logger()
    if recording is None and logger is None:
        return None
    return CallWatch(label, request_id, len(body), host, recording, logger)


class CallWatch:
    """One call being timed; ``done`` reports it."""

    __slots__ = ("_argument_bytes", "_host", "_label", "_logger", "_recording", "_request_id", "_started")

    def __init__(
        self,
        label: str,
        request_id: str,
        argument_bytes: int,
        host: JSHost,
        recording: list[CallRecord] | None,
        logger: Logger | None,
    ) -> None:
        self._label, self._request_id, self._argument_bytes, self._host = label, request_id, argument_bytes, host
        self._recording, self._logger = recording, logger
        self._started = perf_counter()

    def done(self, response: Response | None, error: BaseException | None = None, cached: bool = False) -> None:
        """Report the call: answered with ``response`` (from Django's cache if ``cached``),
        or failed with ``error``."""
        if error is not None:
            outcome = type(error).__name__
        else:
            assert response is not None
            outcome = "cached" if cached else str(response.status)
        self._report(outcome, None if response is None else len(response.body), error, cached)

    def streamed(
        self, pieces: int, answer_bytes: int, error: BaseException | None = None, closed: bool = False
    ) -> None:
        """Report a streamed answer: ``pieces`` of text (in ``answer_bytes`` bytes of its
        body) came before its end, its ``error``, or its reader closing it (``closed``)."""
        outcome = type(error).__name__ if error is not None else "closed" if closed else "200"
        self._report(outcome, answer_bytes, error, False, f" stream of {pieces} piece{'' if pieces == 1 else 's'}")

    def _report(
        self, outcome: str, answer_bytes: int | None, error: BaseException | None, cached: bool, note: str = ""
    ) -> None:
        duration_ms = (perf_counter() - self._started) * 1000
        if self._logger is not None:
            self._logger.debug(
                "%s %s %.2fms id=%s%s",
                self._label,
                outcome,
                duration_ms,
                self._request_id,
                note,
                extra={
                    "js_function": self._label,
                    "request_id": self._request_id,
                    "duration_ms": duration_ms,
                    "outcome": outcome,
                },
            )
        if self._recording is not None:
            url, pid = (None, None) if cached else self._host.last_reached()
            self._recording.append(
                {
                    "function": self._label,
                    "request_id": self._request_id,
                    "duration_ms": duration_ms,
                    "outcome": outcome,
                    "cached": cached,
                    "argument_bytes": self._argument_bytes,
                    "answer_bytes": answer_bytes,
                    "error": None if error is None else str(error),
                    "js_stack": getattr(error, "js_stack", None) or None,
                    "host_url": url,
                    "host_pid": pid,
                }
            )


def start_recording() -> Token[list[CallRecord] | None]:
    """Record the calls made from now on in this context (the current request); returns
    the token for ``stop_recording``."""
    return _recording.set([])


def stop_recording(token: Token[list[CallRecord] | None]) -> list[CallRecord]:
    """Stop recording; returns the calls recorded since ``start_recording``."""
    calls = _recording.get() or []
    _recording.reset(token)
    return calls
