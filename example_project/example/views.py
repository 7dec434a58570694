"""The views only gather data: the templates call the JS functions (host.config.js)."""

from pathlib import Path

from django.shortcuts import render

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


def markdown(request):
    # Our own file, but the page would be as safe with a visitor's Markdown: see
    # render_markdown in host.config.js (markdown-it with html: false).
    text = (CONTENT / "about.md").read_text(encoding="utf-8")
    return render(request, "markdown.html", {"text": text})


def greeting(request):
    return render(request, "greeting.html", {"name": request.GET.get("name", "World")})
