"""Call a JS function for a template: the one implementation behind both template engines.

The Django tags (templatetags/js_host.py) and the Jinja2 functions (jinja2.py) are thin
wrappers around ``render_function``, so both escape, fail and fall back the same way.

* Output is text, escaped by the engine (autoescape), unless the template asks for
  trusted HTML with the separately named ``js_function_html``: the name at the call site
  says that the function's output goes into the page unescaped.
* A failing call (any JSHostError: the function threw, no host, a timeout ...) raises
  under DEBUG. Otherwise JS_HOST['TEMPLATE_ERRORS'] decides: "raise" (the default), or
  "fallback": log the error, with the JS stack, to the ``django_js_host`` logger and
  render the tag's ``fallback`` (default ''), so one failing widget does not take the
  page down. Bad arguments (a value JSON cannot encode) always raise: they are bugs in
  the template, not failures of the host.
* With calls switched off (JS_HOST['ENABLED'] False, the kill switch) every tag renders
  its fallback, under DEBUG too, and nothing is logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from .conf import settings
from .exceptions import FunctionsDisabled, JSHostError
from .function import Function

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger("django_js_host")


def render_function(
    function_name: str, kwargs: Mapping[str, Any], *, fallback: str = "", trusted_html: bool = False
) -> str:
    """The output of JS function ``function_name`` called with ``kwargs``, for a template.

    Returns ``str`` (which the engine escapes) or, with ``trusted_html``, a safe string
    (which both engines insert as is: it has ``__html__``). On a failure that
    TEMPLATE_ERRORS turns into a fallback, returns ``fallback``; escaped first under
    ``trusted_html`` unless it is already safe, since it need not come from the template's
    author.
    """
    try:
        output = Function(function_name).call(**kwargs)
    except FunctionsDisabled:
        # The kill switch is thrown on purpose, even under DEBUG: nothing to report.
        return conditional_escape(fallback) if trusted_html else fallback
    except JSHostError as error:
        if django_settings.DEBUG or settings.TEMPLATE_ERRORS == "raise":
            raise
        logger.error(
            "JS function %r failed while rendering a template; rendered its fallback %r "
            "instead (JS_HOST['TEMPLATE_ERRORS'] is 'fallback')",
            function_name,
            fallback,
            exc_info=error,
        )
        return conditional_escape(fallback) if trusted_html else fallback
    if isinstance(output, bytes):
        output = _buffer_as_text(function_name, output)
    return mark_safe(output) if trusted_html else output


def _buffer_as_text(function_name: str, output: bytes) -> str:
    """A Buffer's bytes as text (server-side renderers may stream HTML into one)."""
    try:
        return output.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"JS function {function_name!r} returned a Buffer that is not UTF-8 text, so a "
            f"template cannot show it ({error})"
        ) from None
