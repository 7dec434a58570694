"""What the body of a streamed answer says: its records (protocol.STREAM_TYPE) read as they
come, as text, up to the end record; an error record is the function's FunctionError,
raised once the text before it has been passed on.

Function.stream and Function.astream feed it the pieces of the body as the transport reads
them, in whatever sizes they come: a record, a character or a record's head may be split
across pieces.
"""

from __future__ import annotations

import codecs
import json

from . import protocol
from .exceptions import FunctionError, UnexpectedResponse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from .transport import _StreamedAnswerBase

# A record's head is its kind and a decimal length: anything longer is no record.
MAX_HEAD = 24
KINDS = (protocol.STREAM_DATA, protocol.STREAM_ERROR, protocol.STREAM_END)


def is_streamed(answer: _StreamedAnswerBase) -> bool:
    """True for an answer in records; any other is read whole and means what a call's does."""
    return answer.status == 200 and answer.content_type.startswith(protocol.STREAM_TYPE)


class StreamText:
    """The text of one streamed answer of ``function_name`` from ``url``."""

    def __init__(self, function_name: str, url: str) -> None:
        self.function_name = function_name
        self.url = url
        self.ended = False  # the end record came
        self._head = b""  # the start of a record's head, split from its end
        self._kind = b""  # of the record whose payload is being read ("" between records)
        self._left = 0  # bytes of that payload still to come
        self._error = bytearray()  # an error record's payload so far
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        # The function's error, once its record has come whole (raise_failure raises it).
        self.failure: FunctionError | None = None
        # For the call's log line: the bytes fed, and the pieces of text they gave.
        self.size = self.pieces = 0

    def feed(self, data: bytes) -> str:
        """The text of the data records in ``data`` ("" if none came whole enough to decode),
        up to an error record: then ``failure`` is set, and ``raise_failure()`` raises it
        after the text before it, which may have come in the same ``data``, is passed on.

        Raises UnexpectedResponse for anything that is not a record, or text that is not UTF-8.
        """
        self.raise_failure()
        self.size += len(data)
        texts = []
        position, size = 0, len(data)
        while position < size and self.failure is None:
            if self._kind:
                take = min(self._left, size - position)
                payload = data[position : position + take]
                position += take
                self._left -= take
                if self._kind == protocol.STREAM_DATA:
                    texts.append(self._decode(payload))
                else:
                    self._error += payload
                if self._left == 0:
                    self._payload_read()
            else:
                position = self._read_head(data, position)
        text = "".join(texts)
        if text:
            self.pieces += 1
        return text

    def raise_failure(self) -> None:
        """Raise the function's FunctionError if its error record has come."""
        if self.failure is not None:
            raise self.failure

    def finish(self) -> None:
        """The answer ended (its last byte was fed). Raises the function's error, or
        UnexpectedResponse if it ended before its end record (a stream is never cut short
        without an error), or inside a character."""
        self.raise_failure()
        if not self.ended:
            raise self._unexpected("ended without its end record: the stream was cut short")
        self._decode(b"", final=True)

    def _read_head(self, data: bytes, position: int) -> int:
        """Read a record's head (or the start of one) from ``data[position:]``; returns the
        position after what it used."""
        if self.ended:
            raise self._unexpected(f"went on after its end record: {data[position : position + 40]!r}")
        colon = data.find(b":", position, position + MAX_HEAD)
        if colon == -1:
            self._head += data[position:]
            if len(self._head) >= MAX_HEAD:
                raise self._unexpected(f"is not a series of records: {self._head!r}")
            return len(data)
        head, self._head = self._head + data[position:colon], b""
        kind, length = head[:1], head[1:]
        if kind not in KINDS or not length.isdigit() or len(head) >= MAX_HEAD:
            raise self._unexpected(f"is not a series of records: {head + b':'!r}")
        self._kind, self._left = kind, int(length)
        if self._left == 0:
            self._payload_read()
        return colon + 1

    def _payload_read(self) -> None:
        kind, self._kind = self._kind, b""
        if kind == protocol.STREAM_END:
            self.ended = True
        elif kind == protocol.STREAM_ERROR:
            try:
                self.failure = protocol.function_error(self.function_name, json.loads(self._error))
            except (ValueError, TypeError, KeyError, AttributeError):
                raise self._unexpected(
                    f"ended with an error record that is not a JS error: {bytes(self._error[:300])!r}"
                ) from None

    def _decode(self, data: bytes, final: bool = False) -> str:
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError as error:
            raise self._unexpected(f"is not UTF-8 text ({error})") from None

    def _unexpected(self, what: str) -> UnexpectedResponse:
        return UnexpectedResponse(f"The streamed answer of function {self.function_name!r} at {self.url} {what}", 200)
