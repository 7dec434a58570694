"""The Jinja2 twin: js_function() and js_function_html() with Django's Jinja2 backend."""

import logging

import jinja2
import pytest
from django.template import engines

from django_js_host import FunctionError
from django_js_host.jinja2 import GLOBALS

from .support.django_site import site_host, site_settings  # noqa: F401 (fixtures)


def render(source, **context):
    return engines["jinja2"].from_string(source).render(context)


def test_output_is_escaped(site_settings):
    assert render('{{ js_function("hello_world", name="<Ada & Bob>") }}') == "Hello, &lt;Ada &amp; Bob&gt;!"


def test_set_stores_the_text_which_is_escaped_when_shown(site_settings):
    source = '{% set g = js_function("hello_world", name=n) %}[{{ g }}]'
    assert render(source, n="<b>") == "[Hello, &lt;b&gt;!]"


def test_js_function_html_inserts_the_functions_html_unescaped(site_settings):
    output = render('{{ js_function_html("render_greeting", name=name) }}', name="<script>")
    assert output == '<p class="greeting">Hello, <b>&lt;script&gt;</b>!</p>'


def test_the_same_fallback_rules_as_the_django_tags(site_settings, caplog):
    with pytest.raises(FunctionError, match="RangeError: async failure"):
        render('{{ js_function("fails_async", fallback="n/a") }}')
    site_settings.JS_HOST = {**site_settings.JS_HOST, "TEMPLATE_ERRORS": "fallback"}
    with caplog.at_level(logging.ERROR, logger="django_js_host"):
        output = render(
            '{{ js_function("fails_async", fallback="n/a") }}|'
            '{{ js_function_html("fails_async", fallback=note) }}',
            note="<i>",
        )
    assert output == "n/a|&lt;i&gt;"  # Jinja2 literals are not trusted HTML: escaped too
    assert "JavaScript stack of function 'fails_async'" in caplog.text
    site_settings.DEBUG = True
    with pytest.raises(FunctionError):
        render('{{ js_function("fails_async", fallback="n/a") }}')


def test_globals_for_an_environment_built_by_hand(site_settings):
    environment = jinja2.Environment(autoescape=True)
    environment.globals.update(GLOBALS)
    template = environment.from_string(
        '{{ js_function("hello_world", name="<x>") }} {{ js_function_html("render_greeting", name="y") }}'
    )
    output = template.render()
    assert output == 'Hello, &lt;x&gt;! <p class="greeting">Hello, <b>y</b>!</p>'


def test_a_page_rendered_with_jinja2_and_output_from_the_host(site_settings, client):
    page = client.get("/jinja2/", {"name": "<Ada>", "number": 21}).content.decode()
    assert "<title>Hello, &lt;Ada&gt;!</title>" in page
    assert "<h1>Hello, &lt;Ada&gt;!</h1>" in page
    assert '<main><p class="greeting">Hello, <b>&lt;Ada&gt;</b>!</p></main>' in page
    assert "<aside>42</aside>" in page
