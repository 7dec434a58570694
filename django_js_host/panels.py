"""JSHostPanel, a Django Debug Toolbar panel: the calls a request made to JS hosts.

    DEBUG_TOOLBAR_PANELS = [*debug_toolbar.settings.PANELS_DEFAULTS, "django_js_host.panels.JSHostPanel"]

For each call: the function, the request id, the size of its arguments and of its answer,
how long it took, whether Django's cache answered, its error and JS stack, and the host's
URL (or socket) and pid. Needs django-debug-toolbar (``pip install django-js-host[toolbar]``).

Calls are recorded only while the toolbar runs this panel for a request (call_log.py); with
the panel off, or outside the toolbar, a call pays one look at a context variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from debug_toolbar.panels import Panel

from . import call_log

if TYPE_CHECKING:
    from contextvars import Token

    from django.http import HttpRequest, HttpResponseBase

    from .call_log import CallRecord


class JSHostPanel(Panel):
    title = "JS host"
    template = "django_js_host/panel.html"
    # Records through a context variable, which follows async views and sync_to_async.
    is_async = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token: Token[list[CallRecord] | None] | None = None
        self._calls: list[CallRecord] = []

    @property
    def nav_subtitle(self) -> str:
        stats = self.get_stats()
        count = len(stats.get("calls", []))
        return f"{count} call{'' if count == 1 else 's'} in {stats.get('total_ms', 0):.1f} ms"

    def enable_instrumentation(self) -> None:
        self._token = call_log.start_recording()

    def disable_instrumentation(self) -> None:
        if self._token is not None:
            self._calls = call_log.stop_recording(self._token)
            self._token = None

    def generate_stats(self, request: HttpRequest, response: HttpResponseBase) -> None:
        self.record_stats(panel_stats(self._calls))


def panel_stats(calls: list[CallRecord]) -> dict[str, Any]:
    """What the panel's template shows of ``calls`` (call_log's records): plain values, as
    the toolbar's stores keep them as JSON."""
    hosts: dict[tuple[str | None, int | None], int] = {}
    for call in calls:
        if not call["cached"]:
            key = (call["host_url"], call["host_pid"])
            hosts[key] = hosts.get(key, 0) + 1
    return {
        "calls": calls,
        "total_ms": sum(call["duration_ms"] for call in calls),
        "errors": sum(call["error"] is not None for call in calls),
        "cache_hits": sum(call["cached"] for call in calls),
        "hosts": [{"url": url, "pid": pid, "calls": count} for (url, pid), count in hosts.items()],
    }
