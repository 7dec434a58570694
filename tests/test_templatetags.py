"""{% js_function %} and {% js_function_html %}: Django's template engine and a real host."""

import logging

import pytest
from django.template import TemplateSyntaxError, engines
from django.utils.safestring import mark_safe

from django_js_host import ConnectionError, FunctionError, FunctionTimeout

from .support.django_site import site_host, site_settings  # noqa: F401 (fixtures)
from .support.hosts import free_port, write_config


def render(source, **context):
    return engines["django"].from_string("{% load js_host %}" + source).render(context)


@pytest.fixture
def fallback_mode(site_settings):
    site_settings.JS_HOST = {**site_settings.JS_HOST, "TEMPLATE_ERRORS": "fallback"}
    return site_settings


# --- output and escaping ---


def test_output_is_escaped(site_settings):
    assert render('{% js_function "hello_world" name="<Ada & Bob>" %}') == "Hello, &lt;Ada &amp; Bob&gt;!"


def test_arguments_come_from_the_context_and_travel_as_json(site_settings):
    output = render('{% js_function "echo" props=props %}', props={"items": [1, 2], "name": "x"})
    assert output == "{&quot;props&quot;:{&quot;items&quot;:[1,2],&quot;name&quot;:&quot;x&quot;}}"


def test_as_stores_the_text_which_is_escaped_when_shown(site_settings):
    source = '{% js_function "hello_world" name="<b>" as greeting %}[{{ greeting }}] {{ greeting|length }}'
    assert render(source) == "[Hello, &lt;b&gt;!] 11"


def test_autoescape_off_leaves_the_text_as_it_came(site_settings):
    source = '{% autoescape off %}{% js_function "echo_text" text="<i>x</i>" %}{% endautoescape %}'
    assert render(source) == "<i>x</i>"


def test_js_function_html_inserts_the_functions_html_unescaped(site_settings):
    output = render('{% js_function_html "render_greeting" name=name %}', name="<script>")
    assert output == '<p class="greeting">Hello, <b>&lt;script&gt;</b>!</p>'


def test_js_function_html_as_stores_safe_html(site_settings):
    source = '{% js_function_html "render_greeting" name="Ada" as page %}<main>{{ page }}</main>'
    assert render(source) == '<main><p class="greeting">Hello, <b>Ada</b>!</p></main>'


def test_a_buffer_is_rendered_as_utf8_text(site_settings):
    assert render('{% js_function_html "render_to_buffer" name="<Ada>" %}') == "<p>Héllo, &lt;Ada&gt;</p>"
    with pytest.raises(ValueError, match="'bytes' returned a Buffer that is not UTF-8 text"):
        render('{% js_function "bytes" %}')


def test_an_argument_may_be_called_name(site_settings):
    # The function's name is positional-only, so `name=` reaches the function.
    assert render('{% js_function "echo" name="n" %}') == "{&quot;name&quot;:&quot;n&quot;}"


def test_a_tag_without_a_function_name_is_a_syntax_error():
    with pytest.raises(TemplateSyntaxError, match="function_name"):
        render("{% js_function %}")
    with pytest.raises(TemplateSyntaxError, match="too many positional"):
        render('{% js_function "a" "b" %}')


# --- errors: raise under DEBUG or TEMPLATE_ERRORS='raise', else log and fall back ---


def test_errors_raise_by_default(site_settings):
    with pytest.raises(FunctionError, match="RangeError: async failure"):
        render('{% js_function "fails_async" fallback="n/a" %}')


def test_errors_raise_under_debug_even_in_fallback_mode(fallback_mode):
    fallback_mode.DEBUG = True
    with pytest.raises(FunctionError, match="No number was provided"):
        render('{% js_function "double" fallback="n/a" %}')


def test_fallback_mode_renders_the_fallback_and_logs_the_js_stack(fallback_mode, caplog):
    with caplog.at_level(logging.ERROR, logger="django_js_host"):
        output = render('[{% js_function "fails_async" fallback="n/a" %}] [{% js_function "fails_async" %}]')
    assert output == "[n/a] []"
    first = caplog.records[0]
    assert first.name == "django_js_host" and first.levelno == logging.ERROR
    assert "JS function 'fails_async' failed while rendering a template" in first.getMessage()
    logged = caplog.text
    assert "RangeError: async failure" in logged
    assert "JavaScript stack of function 'fails_async'" in logged and "at " in logged


def test_fallback_mode_covers_a_host_that_is_not_running(fallback_mode, tmp_path):
    port = free_port()
    fallback_mode.JS_HOST = {"CONFIG_FILE": str(write_config(tmp_path, port)), "TEMPLATE_ERRORS": "fallback"}
    assert render('{% js_function "hello_world" fallback="offline" %}') == "offline"
    fallback_mode.JS_HOST = {**fallback_mode.JS_HOST, "TEMPLATE_ERRORS": "raise"}
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        render('{% js_function "hello_world" fallback="offline" %}')


def test_fallback_mode_covers_timeouts(fallback_mode):
    fallback_mode.JS_HOST = {**fallback_mode.JS_HOST, "FUNCTION_TIMEOUT": 0.2}
    assert render('{% js_function "never_calls_back" fallback="slow" %}') == "slow"
    fallback_mode.JS_HOST = {**fallback_mode.JS_HOST, "TEMPLATE_ERRORS": "raise"}
    with pytest.raises(FunctionTimeout):
        render('{% js_function "never_calls_back" %}')


def test_the_html_tags_fallback_is_escaped_unless_the_template_wrote_it(fallback_mode):
    source = (
        '{% js_function_html "fails_async" fallback=note %}|'
        '{% js_function_html "fails_async" fallback="<em>n/a</em>" %}'
    )
    assert render(source, note="<script>") == "&lt;script&gt;|<em>n/a</em>"
    assert render('{% js_function_html "fails_async" fallback=note %}', note=mark_safe("<hr>")) == "<hr>"


def test_bad_arguments_raise_even_in_fallback_mode(fallback_mode):
    with pytest.raises(TypeError, match="argument 'when'"):
        render('{% js_function "echo" when=when fallback="n/a" %}', when=object())


# --- a real page through the test client ---


def test_a_page_rendered_with_output_from_the_host(site_settings, client):
    response = client.get("/django/", {"name": "<Ada>", "number": 21})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Hello, &lt;Ada&gt;!</title>" in page
    assert "<h1>Hello, &lt;Ada&gt;!</h1>" in page
    assert '<main><p class="greeting">Hello, <b>&lt;Ada&gt;</b>!</p></main>' in page
    assert "<aside>42</aside>" in page


def test_a_page_whose_function_fails(site_settings, client):
    site_settings.JS_HOST = {**site_settings.JS_HOST, "TEMPLATE_ERRORS": "fallback"}
    page = client.get("/django/", {"name": "Ada", "number": 0}).content.decode()
    assert "<aside>no double today</aside>" in page
    assert '<p class="greeting">Hello, <b>Ada</b>!</p>' in page
    site_settings.JS_HOST = {**site_settings.JS_HOST, "TEMPLATE_ERRORS": "raise"}
    with pytest.raises(FunctionError, match="No number was provided"):
        client.get("/django/", {"name": "Ada", "number": 0})
