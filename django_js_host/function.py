"""Function: call a function that lives on a JS host.

    from django_js_host.function import Function
    Function('hello_world').call(name='Foo')   # 'Hello, Foo!'

Keyword arguments travel as JSON with sorted keys (arguments.py), so equal arguments give
equal bytes and an equal ``hash`` in the URL, which a caching proxy can key on.
"""

from __future__ import annotations

import binascii
import json

from . import call_log, protocol, result_cache, streaming
from .arguments import encode_batch, encode_kwargs
from .conf import is_number, settings
from .exceptions import FunctionError, FunctionsDisabled, JSHostError, UnexpectedResponse
from .host import host as default_host
from .request_id import current_request_id

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
    from typing import Any, TypeVar

    from .host import JSHost
    from .transport import Response

    Decoded = TypeVar("Decoded")

# orjson decodes a big result twice as fast as json.loads (~290 vs ~600 us for 74 KB). It
# is imported on the first big result: importing it costs a fresh process ~12 ms.
ORJSON_FROM_BYTES = 16 * 1024
orjson_loads: Callable[[bytes], Any] | None = None  # None: not imported yet


def decode_json(data: bytes) -> Any:
    global orjson_loads
    if len(data) >= ORJSON_FROM_BYTES:
        if orjson_loads is None:
            import orjson

            orjson_loads = orjson.loads
        try:
            return orjson_loads(data)
        except ValueError:
            pass  # a lone surrogate (JS strings may hold one), or nesting past orjson's limit
    try:
        return json.loads(data)
    except RecursionError:
        # An answer nested deeper than Python can decode is an answer we cannot use: a
        # JSHostError, so fallbacks and TEMPLATE_ERRORS apply, not a RecursionError.
        raise UnexpectedResponse(
            f"The answer is JSON nested too deep for Python to decode ({len(data)} bytes)", 200, data[:300]
        ) from None


# Function(fallback=...) left out: failures raise.
NO_FALLBACK = object()


class Function:
    """A named function on a host; ``host`` binds lazily to the default host.

    ``timeout`` overrides FUNCTION_TIMEOUT. ``fallback``: a value that ``call``,
    ``call_json``, ``acall`` and ``acall_json`` return instead of raising when the call
    fails (any JSHostError; the error is logged to the ``django_js_host`` logger) or calls
    are switched off (ENABLED False). ``cache_timeout`` overrides CACHE_TIMEOUT: seconds a
    result is kept in Django's cache, 0 for not at all.

    The return types describe an answer (``call``: ``str | bytes``; ``call_json``: any JSON
    value, so ``Any``); a fallback, returned in place of one, is not part of them.
    """

    def __init__(
        self,
        name: str,
        host: JSHost | None = None,
        timeout: float | None = None,
        *,
        fallback: Any = NO_FALLBACK,
        cache_timeout: float | None = None,
    ) -> None:
        if not protocol.is_callable_name(name):
            raise ValueError(
                f"A function name must match {protocol.CALLABLE_NAME.pattern} (not '.' or '..'), "
                f"as the host's names do, got {name!r}"
            )
        if cache_timeout is not None and not (is_number(cache_timeout) and cache_timeout >= 0):
            raise ValueError(f"cache_timeout must be a number of seconds (0: no caching), got {cache_timeout!r}")
        self.name = name
        self.host = host
        self.timeout = timeout
        self.fallback = fallback
        self.cache_timeout = cache_timeout

    def __repr__(self) -> str:
        return f"<Function {self.name!r}>"

    def get_host(self) -> JSHost:
        return default_host if self.host is None else self.host

    def get_timeout(self) -> float:
        return settings.FUNCTION_TIMEOUT if self.timeout is None else self.timeout

    def call(self, **kwargs: Any) -> str | bytes:
        """Call the function and return its output as the host sent it.

        A string comes back as ``str``, any other value as its JSON text (40 -> '40'),
        bytes (a Buffer) as ``bytes``. Use ``call_json`` to get Python values instead.
        """
        return self._call(kwargs, _as_sent)

    def call_json(self, **kwargs: Any) -> Any:
        """Call the function and return its output as a Python value.

        Objects, arrays, numbers, booleans and null are decoded from JSON; a string output
        comes back as ``str`` and a Buffer as ``bytes``.
        """
        return self._call(kwargs, _as_value)

    async def acall(self, **kwargs: Any) -> str | bytes:
        """``call`` for async code (async views, ASGI): awaits without blocking the loop."""
        return await self._acall(kwargs, _as_sent)

    async def acall_json(self, **kwargs: Any) -> Any:
        """``call_json`` for async code."""
        return await self._acall(kwargs, _as_value)

    def _call(self, kwargs: Mapping[str, Any], decode: Callable[[Response], Decoded]) -> Decoded:
        # Bad arguments raise here, fallback or not: they are bugs, not outages.
        body = encode_kwargs(self.name, kwargs)
        path, body, timeout, cache_timeout, enabled = self._request(protocol.call_path, body)
        host, request_id = self.get_host(), current_request_id()
        # Switched off on purpose: nothing to report (as _fall_back).
        watched = call_log.watch(self.name, request_id, body, host) if enabled else None
        try:
            if not enabled:
                raise self._disabled()
            response = result_cache.lookup(path) if cache_timeout else None
            cached = response is not None
            if response is None:
                # _checked() written out: each Python call here costs a trivial call about
                # 0.3 us, its code cold after the wait for the host.
                response = host.post_call(path, body, timeout, request_id)
                if response.status != 200:
                    raise protocol.error_for(self.name, response)
                if cache_timeout:
                    result_cache.store(path, response, cache_timeout)
            output = decode(response)
        except JSHostError as error:
            if watched:
                watched.done(None, error)
            return self._fall_back(error)  # type: ignore[no-any-return]  # see Function: typed as the answer
        if watched:
            watched.done(response, cached=cached)
        return output

    async def _acall(self, kwargs: Mapping[str, Any], decode: Callable[[Response], Decoded]) -> Decoded:
        body = encode_kwargs(self.name, kwargs)
        path, body, timeout, cache_timeout, enabled = self._request(protocol.call_path, body)
        host, request_id = self.get_host(), current_request_id()
        watched = call_log.watch(self.name, request_id, body, host) if enabled else None
        try:
            if not enabled:
                raise self._disabled()
            response = await result_cache.alookup(path) if cache_timeout else None
            cached = response is not None
            if response is None:
                response = self._checked(await host.apost_call(path, body, timeout, request_id))
                if cache_timeout:
                    await result_cache.astore(path, response, cache_timeout)
            output = decode(response)
        except JSHostError as error:
            if watched:
                watched.done(None, error)
            return self._fall_back(error)  # type: ignore[no-any-return]  # see Function: typed as the answer
        if watched:
            watched.done(response, cached=cached)
        return output

    def stream(self, **kwargs: Any) -> Iterator[str]:
        """Call the function and yield its output as text, in pieces as the host sends them:
        ``StreamingHttpResponse(Function('render').stream(props=props))``.

        An output that is a stream (a Node Readable, a web ReadableStream, an async
        iterable: React's renderToPipeableStream and renderToReadableStream) comes chunk by
        chunk as the function makes it; any other output comes whole, as one piece (the text
        ``call`` returns; bytes decoded as UTF-8). No piece is empty. The timeout covers the
        whole stream. A failure before the first piece raises as ``call`` does (or yields
        the fallback, if it is not empty, instead); an error of the stream after it raises
        FunctionError with the JS error, never a silent truncation. Closing the generator
        before its end (a client that went away) closes the connection, which aborts the
        function's ``this.signal`` and cancels its stream. Results are not cached.
        Arguments are encoded, and a TypeError raised, here, before any iteration.
        """
        body = encode_kwargs(self.name, kwargs)
        path, body, timeout, _, enabled = self._request(protocol.stream_path, body)
        # The request's id now: a view's response is read after the view returned.
        return self._stream(path, body, timeout, enabled, current_request_id())

    def astream(self, **kwargs: Any) -> AsyncIterator[str]:
        """``stream`` for async code: ``async for text in Function('render').astream(...)``,
        or ``StreamingHttpResponse(Function('render').astream(props=props))`` under ASGI."""
        body = encode_kwargs(self.name, kwargs)
        path, body, timeout, _, enabled = self._request(protocol.stream_path, body)
        return self._astream(path, body, timeout, enabled, current_request_id())

    def _stream(self, path: str, body: bytes, timeout: float, enabled: bool, request_id: str) -> Iterator[str]:
        # Watched from the first piece asked for: a view's response is read after it returned.
        host = self.get_host()
        watched = call_log.watch(self.name, request_id, body, host) if enabled else None
        try:
            if not enabled:
                raise self._disabled()
            answer = host.post_stream(path, body, timeout, request_id)
            streamed = streaming.is_streamed(answer)
            if not streamed:
                response = answer.whole()
                text = self._whole_text(response)
                if watched:
                    watched.done(response)
        except JSHostError as error:
            if watched:
                watched.done(None, error)
            streamed, text = False, self._fall_back(error)
        if not streamed:
            if text:
                yield text
            return
        records = streaming.StreamText(self.name, answer.url)
        closed, failure = False, None
        try:
            for piece in answer.pieces():
                text = records.feed(piece)
                if text:
                    yield text
                records.raise_failure()  # before reading on: the host cuts the body after it
            records.finish()
        except GeneratorExit:  # its reader stopped early
            closed = True
            raise
        except BaseException as error:
            failure = error
            raise
        finally:
            answer.close()
            if watched:
                watched.streamed(records.pieces, records.size, failure, closed)

    async def _astream(
        self, path: str, body: bytes, timeout: float, enabled: bool, request_id: str
    ) -> AsyncIterator[str]:
        host = self.get_host()
        watched = call_log.watch(self.name, request_id, body, host) if enabled else None
        try:
            if not enabled:
                raise self._disabled()
            answer = await host.apost_stream(path, body, timeout, request_id)
            streamed = streaming.is_streamed(answer)
            if not streamed:
                response = await answer.whole()
                text = self._whole_text(response)
                if watched:
                    watched.done(response)
        except JSHostError as error:
            if watched:
                watched.done(None, error)
            streamed, text = False, self._fall_back(error)
        if not streamed:
            if text:
                yield text
            return
        records = streaming.StreamText(self.name, answer.url)
        closed, failure = False, None
        try:
            async for piece in answer.apieces():
                text = records.feed(piece)
                if text:
                    yield text
                records.raise_failure()
            records.finish()
        except GeneratorExit:
            closed = True
            raise
        except BaseException as error:
            failure = error
            raise
        finally:
            answer.close()
            if watched:
                watched.streamed(records.pieces, records.size, failure, closed)

    def _whole_text(self, response: Response) -> str:
        """The text of a whole answer to a stream call: what ``call`` returns, as text."""
        output = _as_sent(self._checked(response))
        if isinstance(output, str):
            return output
        try:
            return output.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnexpectedResponse(
                f"Function {self.name!r} answered bytes that are not UTF-8 text, which stream() yields ({error})",
                200,
                output[:300],
            ) from None

    def _disabled(self) -> FunctionsDisabled:
        return FunctionsDisabled(
            f"Cannot call JS function {self.name!r}: calls are switched off (JS_HOST['ENABLED'] is False)"
        )

    def _fall_back(self, error: JSHostError) -> Any:
        """Return the fallback in place of a failed call, or raise the error if there is none."""
        if self.fallback is NO_FALLBACK:
            raise error
        if not isinstance(error, FunctionsDisabled):  # switched off on purpose: nothing to report
            import logging  # here: importing it costs a fresh process ~5 ms

            logging.getLogger("django_js_host").error(
                "JS function %r failed; returned its fallback %r instead", self.name, self.fallback, exc_info=error
            )
        return self.fallback

    def batch(self, calls: Iterable[dict[str, Any]], *, return_exceptions: bool = False) -> list[Any]:
        """Call the function once per dict of keyword arguments in ``calls``, in one request.

        Returns the outputs in order, decoded as ``call_json`` does. The host starts every
        call at once, so async functions overlap; the timeout covers the whole batch. If a
        call failed, its FunctionError is raised (the first one's, by position), or with
        ``return_exceptions=True`` put in the list in place of its output.
        """
        host, path, body, timeout, request_id, watched = self._batch_request(calls)
        try:
            response = host.post_call(path, body, timeout, request_id)
            return self._batch_outputs(response, return_exceptions, watched)
        except JSHostError as error:
            if watched:
                watched.done(None, error)
            raise

    async def abatch(self, calls: Iterable[dict[str, Any]], *, return_exceptions: bool = False) -> list[Any]:
        """``batch`` for async code."""
        host, path, body, timeout, request_id, watched = self._batch_request(calls)
        try:
            response = await host.apost_call(path, body, timeout, request_id)
            return self._batch_outputs(response, return_exceptions, watched)
        except JSHostError as error:
            if watched:
                watched.done(None, error)
            raise

    def _request(
        self, make_path: Callable[[str, bytes], str], body: bytes
    ) -> tuple[str, bytes, float, float, bool]:
        """(path, body, timeout, cache timeout, enabled) of a call (``make_path`` is
        protocol.call_path) or a batch (protocol.batch_path) with that JSON body.

        The settings are read once: each read checks whether Django is configured. The hash
        in the path lets a caching proxy (and result_cache) key on the URL alone; the host
        checks it against the body.
        """
        config = settings.as_dict()
        timeout = config["FUNCTION_TIMEOUT"] if self.timeout is None else self.timeout
        cache_timeout = config["CACHE_TIMEOUT"] if self.cache_timeout is None else self.cache_timeout
        return make_path(self.name, body), body, timeout, cache_timeout, config["ENABLED"]

    def _batch_request(
        self, calls: Iterable[dict[str, Any]]
    ) -> tuple[JSHost, str, bytes, float, str, call_log.CallWatch | None]:
        """(host, path, body, timeout, request id, CallWatch or None) of a batch; raises
        FunctionsDisabled when calls are switched off."""
        calls = list(calls)
        path, body, timeout, _, enabled = self._request(protocol.batch_path, encode_batch(self.name, calls))
        if not enabled:
            raise self._disabled()
        host, request_id = self.get_host(), current_request_id()
        watched = call_log.watch(f"{self.name} (batch of {len(calls)})", request_id, body, host)
        return host, path, body, timeout, request_id, watched

    def _batch_outputs(
        self, response: Response, return_exceptions: bool, watched: call_log.CallWatch | None
    ) -> list[Any]:
        """The outputs of a batch's answer (reported to ``watched`` unless one fails)."""
        if response.status == 200:
            results = decode_json(response.body)
        else:
            results = protocol.json_object(response).get("results") if response.status == 500 else None
            if not isinstance(results, list):
                raise protocol.error_for(self.name, response)
        outputs = [self._batch_output(result) for result in results]
        if not return_exceptions:
            for output in outputs:
                if isinstance(output, FunctionError):
                    raise output
        if watched:
            watched.done(response)
        return outputs

    def _batch_output(self, result: dict[str, Any]) -> Any:
        """The output of one call of a batch, or its FunctionError (see js/lib/batch.js)."""
        if "value" in result:
            return result["value"]
        if "bytes" in result:
            return binascii.a2b_base64(result["bytes"])
        return protocol.function_error(self.name, result["error"])

    def _checked(self, response: Response) -> Response:
        if response.status != 200:
            raise protocol.error_for(self.name, response)
        return response


def _as_sent(response: Response) -> str | bytes:
    if response.content_type.startswith("application/octet-stream"):
        return response.body
    return response.body.decode("utf-8")


def _as_value(response: Response) -> Any:
    if response.content_type.startswith(protocol.JSON_TYPE):
        return decode_json(response.body)
    return _as_sent(response)
