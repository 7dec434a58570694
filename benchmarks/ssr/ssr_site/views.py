"""The Django pages of benchmarks/ssr.py: the catalog rendered by the host through
{% js_function_html %}; the floor, the same page with the host's HTML pasted in as a
static string, so it costs Django what the page costs it without the call; and for
--decompose, the same call to a host function that spends the render's CPU time in a loop
(ssr/host.config.js)."""

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


def catalog_floor(request):
    return render(request, "catalog_floor.html", {"props": catalog_props(), "html": STATIC_HTML})
