"""Template tags that call JS functions: ``{% load js_host %}``.

    {% js_function "hello_world" name=user.first_name %}          text, autoescaped
    {% js_function "hello_world" name=name as greeting %}         stored, escaped when shown
    {% js_function_html "render_page" props=props %}              trusted HTML, not escaped
    {% js_function "price" id=item.id fallback="n/a" %}           rendered if the call fails
                                                                  (TEMPLATE_ERRORS='fallback')

Keyword arguments travel to the function as JSON; ``fallback`` is the tag's own. The
implementation is shared with the Jinja2 functions: see django_js_host.rendering.
"""

from __future__ import annotations

from typing import Any

from django import template

from ..rendering import render_function

register = template.Library()


@register.simple_tag
def js_function(function_name: str, /, *, fallback: str = "", **kwargs: Any) -> str:
    """The function's output as text: escaped wherever autoescape is on."""
    return render_function(function_name, kwargs, fallback=fallback)


@register.simple_tag
def js_function_html(function_name: str, /, *, fallback: str = "", **kwargs: Any) -> str:
    """The function's output as HTML, inserted unescaped: for server-side rendering.

    Use it only for functions whose output is HTML they built safely (a React
    renderToString, a template engine that escapes), never for one that echoes its input.
    """
    return render_function(function_name, kwargs, fallback=fallback, trusted_html=True)
