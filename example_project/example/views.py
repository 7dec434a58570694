"""The views only gather data: the templates call the JS functions (host.config.js), but
for the streamed page, whose view passes on the host's stream."""

import secrets
from pathlib import Path

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from django_js_host.function import Function

CONTENT = Path(__file__).resolve().parent / "content"
DEFAULT_ITEMS = ["Python calls", "a Node host", "which renders React"]


def item_counter(request):
    """A React component rendered in the host, then hydrated in the browser.

    ``?item=...`` (repeatable) replaces the list, ``?start=N`` sets where the counter starts.
    """
    items = request.GET.getlist("item") or DEFAULT_ITEMS
    try:
        start = int(request.GET.get("start", 0))
    except ValueError:
        start = 0
    props = {"items": items, "start": start}
    return render(request, "item_counter.html", {"props": props})


def slow_page(request):
    """A React component streamed as the host renders it: its shell at once, the part inside
    its <Suspense> ``?delay=`` ms later (1500 by default, at most 10000).

    The template is rendered whole with a marker where the component goes, and the page is
    sent as the template up to the marker, the host's stream, then the rest of the template.
    """
    try:
        delay = min(max(int(request.GET.get("delay", 1500)), 0), 10_000)
    except ValueError:
        delay = 1500
    props = {"items": DEFAULT_ITEMS, "delay": delay}
    marker = secrets.token_hex(16)  # nothing else in the page can spell it
    page = render_to_string("slow_page.html", {"props": props, "stream_goes_here": marker}, request)
    before, after = page.split(marker)
    stream = Function("render_slow_page").stream(props=props)

    # A generator, whose close() (Django's, once the server is done with the response, or
    # the client went away) closes the stream too, which cancels the render in the host.
    def parts():
        yield before
        yield from stream
        yield after

    return StreamingHttpResponse(parts(), content_type="text/html; charset=utf-8")


def markdown(request):
    # Our own file, but the page would be as safe with a visitor's Markdown: see
    # render_markdown in host.config.js (markdown-it with html: false).
    text = (CONTENT / "about.md").read_text(encoding="utf-8")
    return render(request, "markdown.html", {"text": text})


def greeting(request):
    return render(request, "greeting.html", {"name": request.GET.get("name", "World")})
