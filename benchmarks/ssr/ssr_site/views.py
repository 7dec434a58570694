"""The Django pages of benchmarks/ssr.py: the catalog rendered by the host through
{% js_function_html %}; the floor, the same page with the host's HTML pasted in as a
static string, so it costs Django what the page costs it without the call; and for
--decompose, the same call to a host function that spends the render's CPU time in a loop
(ssr/host.config.js); and for --peers, the catalog rendered in the worker itself by
mini-racer (V8 in-process, the component bundled by ssr.py)."""

import json
import os
from pathlib import Path

from django.shortcuts import render
from django.utils.safestring import mark_safe

ITEMS = json.loads(Path(os.environ["SSR_DATA"]).read_text(encoding="utf-8"))
STATIC_HTML = mark_safe(Path(os.environ["SSR_STATIC_HTML"]).read_text(encoding="utf-8"))


def catalog_props():
    return {"title": "Catalog", "items": ITEMS}


def catalog_from_the_host(request):
    return render(request, "catalog_host.html", {"props": catalog_props()})


def catalog_from_the_host_cpu_only(request):
    return render(request, "catalog_host_cpu_only.html", {"props": catalog_props()})


# This worker's own V8 and its bundle of the component, made on the worker's first page.
_mini_racer = None


def mini_racer():
    global _mini_racer
    if _mini_racer is None:
        from py_mini_racer import MiniRacer

        _mini_racer = MiniRacer()
        _mini_racer.eval(Path(os.environ["SSR_MINI_RACER_BUNDLE"]).read_text(encoding="utf-8"))
    return _mini_racer


def close_mini_racer():
    """Stop this worker's V8 (gunicorn.py's worker_exit): left to the interpreter's exit,
    its close waits for a thread that exit has already frozen, and the worker never ends."""
    global _mini_racer
    if _mini_racer is not None:
        _mini_racer.close()
        _mini_racer = None


def catalog_from_mini_racer(request):
    props = catalog_props()
    html = mark_safe(mini_racer().call("catalog.renderCatalog", props))
    return render(request, "catalog_floor.html", {"props": props, "html": html})


def catalog_floor(request):
    return render(request, "catalog_floor.html", {"props": catalog_props(), "html": STATIC_HTML})
