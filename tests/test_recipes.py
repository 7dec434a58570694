"""README's Recipes, as written: each block a test takes by its ``:name:`` and runs.

The Markdown and KaTeX recipes run in a real host, with the npm packages of the repository's
package.json (which `npm ci` installs), through their Django templates. The React recipe is
the `jshost init --react` starter, which tests/test_starter.py runs in Chromium: here its
blocks are held to be the starter's own text.
"""

import re
from contextlib import ExitStack
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.template import engines

from django_js_host.starter import INSTALL_AND_BUILD, starter_files

from .support.docs import named_code_block
from .support.hosts import free_port, js_host_for_test, running_host
from .support.paths import REPO

README = REPO / "README.rst"


@pytest.fixture
def recipe_project(tmp_path, settings):
    """``serve(block name)``: that README block as a project's host.config.js, its host
    running (stopped by PID at the end) and JS_HOST pointed at it; returns the project."""
    (tmp_path / "node_modules").symlink_to(REPO / "node_modules")  # where npm ci put the packages
    with ExitStack() as hosts:

        def serve(config_block):
            config = tmp_path / "host.config.js"
            config.write_text(named_code_block(README, config_block) + f"module.exports.port = {free_port()};\n")
            hosts.enter_context(running_host(config))
            settings.JS_HOST = js_host_for_test(config)
            return tmp_path

        yield serve


def render(template_block, **context):
    return engines["django"].from_string(named_code_block(README, template_block)).render(context)


def test_markdown_recipe(recipe_project):
    recipe_project("recipe-markdown-config")
    body = (
        "# A *title*\n\nSome `code` -- and a link: https://example.com\n\n"
        "<script>alert(1)</script>\n\n[click me](javascript:alert(1))\n"
    )
    html = render("recipe-markdown-template", post={"body": body})
    article = re.search(r"<article>(.*)</article>", html, re.S).group(1)
    assert "<h1>A <em>title</em></h1>" in article
    assert "<code>code</code> – and a link: " in article  # typographer: -- is an en dash
    assert '<a href="https://example.com">https://example.com</a>' in article  # linkify
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in article and "<script" not in article
    assert "[click me](javascript:alert(1))" in article and 'href="javascript:' not in article


def test_katex_recipe(recipe_project, settings):
    project = recipe_project("recipe-katex-config")
    settings.STATIC_URL = "/static/"
    html = render("recipe-katex-template", identity=r"e^{i\pi} + 1 = 0", formula=r"\int_0^1 x^2\,dx = \tfrac13")
    assert '<link rel="stylesheet" href="/static/katex/katex.min.css">' in html
    inline = inline_math(html)
    assert inline.startswith('<span class="katex"><span class="katex-mathml"><math ')
    assert '<annotation encoding="application/x-tex">e^{i\\pi} + 1 = 0</annotation>' in inline
    assert '<span class="katex-display">' in html.split("</p>", 1)[1]  # display=True

    # A visitor's formula: broken, hostile, or expanding forever.
    def math(tex):
        return inline_math(render("recipe-katex-template", identity=tex, formula="x"))

    assert '<span class="katex-error" title="ParseError: KaTeX parse error' in math(r"\frac{1}{")
    assert "<script" not in math("<script>alert(1)</script>")
    assert "href=" not in math(r"\href{javascript:alert(1)}{click}")
    assert "Too many expansions" in math(r"\def\a{\a\a}\a")

    # Its stylesheet and fonts, served as the recipe says.
    namespace = {"BASE_DIR": project}
    exec(named_code_block(README, "recipe-katex-static"), namespace)
    settings.STATICFILES_DIRS = namespace["STATICFILES_DIRS"]
    css = finders.find("katex/katex.min.css")
    assert css and Path(css).read_text().count("url(fonts/KaTeX_") > 10
    assert finders.find("katex/fonts/KaTeX_Main-Regular.woff2")


def inline_math(html):
    """The inline formula of the KaTeX recipe's template, as rendered."""
    return re.search(r"<p>Euler's identity: (.*)</p>", html, re.S).group(1)


@pytest.mark.parametrize(
    ("block", "starter_file"),
    [
        ("recipe-react-include", "templates/react_example.html"),
        ("recipe-react-snippet", "templates/react_component.html"),
        ("recipe-react-client", "frontend/client.jsx"),
    ],
)
def test_react_recipe_shows_the_starters_code(block, starter_file):
    source = starter_files(react=True)[Path(starter_file)].read_text()
    assert named_code_block(README, block).strip() in source


def test_react_recipe_commands_are_jshost_inits():
    """README's install line is the one `jshost init --react` prints (which test_starter runs)."""
    commands = named_code_block(README, "recipe-react-commands").splitlines()
    assert commands == ["python manage.py jshost init --react", INSTALL_AND_BUILD]
