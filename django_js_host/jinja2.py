"""The Jinja2 twin of ``{% load js_host %}``: the same two functions, as globals.

With Django's Jinja2 backend, add the extension::

    TEMPLATES = [{
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "OPTIONS": {"extensions": ["django_js_host.jinja2.JSHostExtension"]},
        ...
    }]

and in templates::

    {{ js_function("hello_world", name=user.first_name) }}         text, autoescaped
    {% set greeting = js_function("hello_world", name=name) %}     stored
    {{ js_function_html("render_page", props=props) }}              trusted HTML, not escaped
    {{ js_function("price", id=item.id, fallback="n/a") }}          rendered if the call fails

An environment built by hand can take the functions instead:
``env.globals.update(django_js_host.jinja2.GLOBALS)``. Both share
django_js_host.rendering with the Django tags, so they escape and fail alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jinja2.ext import Extension

from .rendering import render_function

if TYPE_CHECKING:
    from collections.abc import Callable

    from jinja2 import Environment


def js_function(function_name: str, /, *, fallback: str = "", **kwargs: Any) -> str:
    """The function's output as text: escaped wherever autoescape is on."""
    return render_function(function_name, kwargs, fallback=fallback)


def js_function_html(function_name: str, /, *, fallback: str = "", **kwargs: Any) -> str:
    """The function's output as HTML, inserted unescaped: for server-side rendering."""
    return render_function(function_name, kwargs, fallback=fallback, trusted_html=True)


GLOBALS: dict[str, Callable[..., str]] = {"js_function": js_function, "js_function_html": js_function_html}


class JSHostExtension(Extension):
    """Adds ``js_function`` and ``js_function_html`` to the environment's globals."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals.update(GLOBALS)
