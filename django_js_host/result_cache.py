"""Function results kept in Django's cache framework (opt-in: CACHE_TIMEOUT or
``Function(cache_timeout=...)``).

An entry is keyed by the call's path, ``/function/<name>?hash=<sha1 of the body>``: the
function name and the hash of its sorted-keys JSON arguments, the same key a caching
proxy in front of the host would use. Only 200 answers are kept, as the content type and
body the host sent, so ``call`` and ``call_json`` share an entry. The JS code is not part
of the key: after deploying changed functions, entries live on until their timeout (or
clear the cache).
"""

from __future__ import annotations

from .conf import settings
from .exceptions import ConfigError
from .transport import Response

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from django.core.cache.backends.base import BaseCache

KEY_PREFIX = "django_js_host:"


def get_cache() -> BaseCache:
    """The Django cache named by CACHE_ALIAS; ConfigError if there is none."""
    from django.conf import settings as django_settings

    alias = settings.CACHE_ALIAS
    if not django_settings.configured:
        raise ConfigError(
            "Caching function results (JS_HOST['CACHE_TIMEOUT'] or Function(cache_timeout=...)) "
            "uses Django's cache framework, and Django's settings are not configured"
        )
    from django.core.cache import InvalidCacheBackendError, caches

    try:
        return caches[alias]
    except InvalidCacheBackendError:
        raise ConfigError(
            f"JS_HOST['CACHE_ALIAS'] is {alias!r}, which is not a cache in settings.CACHES"
        ) from None


def lookup(path: str) -> Response | None:
    """The cached Response for a call's path, or None."""
    return _as_response(get_cache().get(KEY_PREFIX + path), path)


def store(path: str, response: Response, timeout: float) -> None:
    if response.status == 200:
        get_cache().set(KEY_PREFIX + path, (response.content_type, response.body), timeout)


async def alookup(path: str) -> Response | None:
    return _as_response(await get_cache().aget(KEY_PREFIX + path), path)


async def astore(path: str, response: Response, timeout: float) -> None:
    if response.status == 200:
        await get_cache().aset(KEY_PREFIX + path, (response.content_type, response.body), timeout)


def _as_response(entry: tuple[str, bytes] | None, path: str) -> Response | None:
    if entry is None:
        return None
    content_type, body = entry
    return Response(200, content_type, body, f"cache:{path}")
