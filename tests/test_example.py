"""The example site (example_project/) end to end, with real processes: a development manager
and its host, gunicorn pre-forking workers, runserver, and a headless Chromium.

Needs `make example-assets` (npm ci + npm run build:example; `make test` runs it). Each test
gives the site a manager on a free port and stops it, its hosts and every server and
browser process it started, by PID.
"""

import importlib
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.test import Client

from django_js_host.host import host
from django_js_host.links.manager import JSHostManager

from .example_support import (
    EXAMPLE_CONFIG,
    EXAMPLE_PROJECT,
    example_manager,
    example_runserver,
    example_server,
    require_example_build,
)
from .support.browser import chromium, console_errors, wait_for
from .support.hosts import free_port
from .support.processes import alive, children_of, wait_until
from .support.servers import get

ROOT = re.compile(r'<div id="root">(.*?)</div>\s*<script id="item-counter-props"', re.S)
PROPS = re.compile(r'<script id="item-counter-props" type="application/json">(.*?)</script>', re.S)


def root_markup(html):
    """What the page has inside <div id="root">: the component as the host rendered it."""
    match = ROOT.search(html)
    assert match, f"no #root followed by the props' json_script in:\n{html}"
    return match.group(1)


def rendered_component(items, count):
    """renderToString's output for ItemCounter (example_project/frontend/ItemCounter.jsx)."""
    lis = "".join(f"<li>{item}</li>" for item in items)
    return (
        f'<section class="item-counter" data-hydrated="false"><ul class="items">{lis}</ul>'
        f'<p>Count: <strong class="count">{count}</strong></p>'
        '<button type="button">Add one</button></section>'
    )


@pytest.fixture
def example_site(settings, monkeypatch):
    """The example's URLs, templates and JS_HOST in this process, its manager on a free port."""
    require_example_build()
    monkeypatch.syspath_prepend(str(EXAMPLE_PROJECT))
    example_settings = importlib.import_module("example.settings")
    with example_manager() as runtime_dir:
        settings.ROOT_URLCONF = example_settings.ROOT_URLCONF
        settings.TEMPLATES = example_settings.TEMPLATES
        # Without the toolbar, which this process does not install (the browser test runs it).
        settings.MIDDLEWARE = [name for name in example_settings.MIDDLEWARE if not name.startswith("debug_toolbar.")]
        settings.STATIC_URL = example_settings.STATIC_URL
        settings.JS_HOST = {**example_settings.JS_HOST, "RUNTIME_DIR": runtime_dir}
        assert settings.JS_HOST["USE_MANAGER"]
        try:
            yield runtime_dir
        finally:
            host.disconnect()  # as this process would at exit; the manager goes next


def test_pages_are_rendered_by_the_real_host(example_site):
    client = Client()

    # Page 1: the React component, rendered in the host with the view's props.
    response = client.get("/", {"start": "7", "item": ["Alpha", "<b>Beta</b>"]})
    assert response.status_code == 200
    html = response.content.decode()
    assert root_markup(html) == rendered_component(["Alpha", "&lt;b&gt;Beta&lt;/b&gt;"], 7)
    props_json = PROPS.search(html).group(1)
    assert json.loads(props_json) == {"items": ["Alpha", "<b>Beta</b>"], "start": 7}
    assert "<b>" not in props_json  # json_script escapes <, > and & for the <script> element
    assert '<script src="/static/example/client.js" defer></script>' in html
    default = client.get("/").content.decode()
    assert root_markup(default) == rendered_component(["Python calls", "a Node host", "which renders React"], 0)

    # It came from a managed host on this test's manager, which runs the example's config.
    status = JSHostManager(runtime_dir=example_site).host_status(str(EXAMPLE_CONFIG))
    assert status["state"] == "running" and alive(status["pid"])
    assert host.get_status()["pid"] == status["pid"]

    # Page 2: Markdown rendered by markdown-it in the host; raw HTML escaped, no javascript: link.
    response = client.get("/markdown/")
    assert response.status_code == 200
    article = re.search(r"<article>(.*)</article>", response.content.decode(), re.S).group(1)
    assert "<h1>Markdown, rendered in Node</h1>" in article
    assert "<code>example/content/about.md</code>" in article
    assert '<pre><code class="language-python">' in article
    assert "<strong>once</strong>" in article
    assert '<a href="https://github.com/markdown-it/markdown-it">markdown-it</a>' in article
    assert "&lt;script&gt;alert(" in article and "<script" not in article
    assert "[click me](javascript:alert(1))" in article and 'href="javascript:' not in article

    # The greeting: js_function's text output is escaped like any variable.
    response = client.get("/greeting/", {"name": "<b>you</b>"})
    assert "<h1>Hello, &lt;b&gt;you&lt;/b&gt;! (greet ran in Node v" in response.content.decode()


def test_the_streamed_page_sends_its_shell_before_the_slow_part_is_ready(example_site):
    host.connect()  # the manager starts the host now, not in the middle of the page
    response = Client().get("/streaming/", {"delay": "1000"})
    assert response.status_code == 200 and response.streaming
    started = time.monotonic()
    arrived = [(time.monotonic() - started, chunk.decode()) for chunk in response.streaming_content]
    page = "".join(chunk for _, chunk in arrived)
    shell_at = next(at for at, chunk in arrived if 'class="shell"' in chunk)
    slow_at = next(at for at, chunk in arrived if "Loaded after 1000 ms" in chunk)
    assert slow_at - shell_at >= 0.9, (shell_at, slow_at)
    # The shell came with the fallback in the slow part's place; the slow part came with
    # React's script that swaps it in, inside #slow-page-root, before the props and script.
    shell = next(chunk for _, chunk in arrived if 'class="shell"' in chunk)
    assert 'class="loading"' in shell and "Loaded after" not in shell
    root = re.search(r'<div id="slow-page-root">(.*?)</div>\s*<script id="slow-page-props"', page, re.S).group(1)
    assert '<p class="slow-part">Loaded after 1000 ms: Python calls, a Node host, which renders React.</p>' in root
    assert "$RC" in root
    assert json.loads(re.search(r'id="slow-page-props" type="application/json">(.*?)</script>', page).group(1)) == {
        "items": ["Python calls", "a Node host", "which renders React"],
        "delay": 1000,
    }


def test_gunicorn_preload_workers_render_with_the_host_the_master_connected_to():
    """gunicorn --preload: ready() connects in the master, then two forked workers serve."""
    require_example_build()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "gunicorn", "--preload", "--workers", "2",
        "--bind", f"127.0.0.1:{port}", "example.wsgi:application",
    ]  # fmt: skip
    with example_manager() as runtime_dir:
        with example_server(command, runtime_dir, base + "/") as master:
            assert wait_until(lambda: len(children_of(master.pid)) == 2), children_of(master.pid)
            workers = set(children_of(master.pid))

            # The master connected (AppConfig.ready(), before the fork): the manager counted it.
            manager_log = Path(JSHostManager(runtime_dir=runtime_dir).logfile).read_text()
            assert f"(owner {master.pid}," in manager_log, manager_log

            def fetch(n):
                status, headers, body = get(f"{base}/?start={n}&item=request+{n}")
                return n, status, int(headers["X-Served-By-Pid"]), body

            def pids_answering():
                with ThreadPoolExecutor(max_workers=4) as pool:
                    return {pid for _n, _status, pid, _body in pool.map(fetch, range(4))}

            # A forked worker may take a moment to reach its accept loop: wait for both, so
            # the 50 requests below meet two ready workers.
            assert wait_until(lambda: pids_answering() == workers, timeout=15), "a worker never answered"

            # Several threads at once, so both sync workers take requests.
            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(fetch, range(50)))

            for n, status, _pid, body in results:
                assert status == 200
                assert root_markup(body) == rendered_component([f"request {n}"], n)
            served_by = {pid for _n, _status, pid, _body in results}
            assert served_by == workers, f"served by {served_by}, workers {workers}"
        assert master.returncode == 0
        assert wait_until(lambda: not any(alive(pid) for pid in workers), timeout=10)


def test_browser_gets_server_rendered_markup_then_hydrates_it():
    with example_runserver() as base:
        page = f"{base}/?start=41&item=Alpha&item=Beta"
        from selenium.webdriver.common.by import By

        def component(driver):
            return driver.find_element(By.CSS_SELECTOR, "#root > section.item-counter")

        def count(driver):
            return component(driver).find_element(By.CSS_SELECTOR, ".count").text

        # (a) JavaScript off: the component's markup is in the page as the host rendered it.
        with chromium(javascript=False) as driver:
            driver.get(page)
            assert driver.find_element(By.CSS_SELECTOR, "p.noscript").is_displayed()
            items = component(driver).find_elements(By.CSS_SELECTOR, "li")
            assert [item.text for item in items] == ["Alpha", "Beta"]
            assert count(driver) == "41"
            assert component(driver).get_attribute("data-hydrated") == "false"

        # (b) JavaScript on: the client bundle hydrates it, and a click updates it.
        with chromium() as driver:
            driver.get(page)
            wait_for(
                driver,
                lambda d: component(d).get_attribute("data-hydrated") == "true",
                message="the component was not hydrated (no data-hydrated=true)",
            )
            assert not driver.find_elements(By.CSS_SELECTOR, "p.noscript")
            assert count(driver) == "41"
            button = component(driver).find_element(By.TAG_NAME, "button")
            button.click()
            wait_for(driver, lambda d: count(d) == "42", message=f"count is {count(driver)} after a click")
            button.click()
            wait_for(driver, lambda d: count(d) == "43", message=f"count is {count(driver)} after 2 clicks")
            assert not console_errors(driver)  # React logs a hydration mismatch as one


def test_browser_gets_the_streamed_shell_before_the_slow_part_and_hydrates_the_whole_page():
    with example_runserver() as base:
        page = f"{base}/streaming/?delay=2000"
        from selenium.webdriver.common.by import By

        with chromium() as driver:
            # Before the page: note when the shell, its fallback and the slow part appear.
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SEEN_AT})
            driver.get(page)
            section = driver.find_element(By.CSS_SELECTOR, "#slow-page-root > section.slow-page")
            wait_for(
                driver,
                lambda d: section.get_attribute("data-hydrated") == "true",
                message="the streamed page was not hydrated (no data-hydrated=true)",
            )
            seen = driver.execute_script("return window.seenAt")
            timing = driver.execute_script(
                "const [n] = performance.getEntriesByType('navigation');"
                "return {requestStart: n.requestStart, responseStart: n.responseStart, responseEnd: n.responseEnd}"
            )
            # The first bytes, and the shell with its fallback on screen, well before the
            # slow part (2 s) was ready; the page whole once it was.
            first_byte = timing["responseStart"] - timing["requestStart"]
            full_page = timing["responseEnd"] - timing["requestStart"]
            assert first_byte < 1000 and full_page >= 1900, timing
            assert seen["shell"] < seen["slow"] - 1500 and seen["loading"] <= seen["shell"] + 100, seen
            assert section.find_element(By.CSS_SELECTOR, ".slow-part").text == (
                "Loaded after 2000 ms: Python calls, a Node host, which renders React."
            )
            assert not section.find_elements(By.CSS_SELECTOR, ".loading")
            # Hydrated: the button works, and React saw no mismatch.
            section.find_element(By.TAG_NAME, "button").click()
            wait_for(driver, lambda d: section.find_element(By.CSS_SELECTOR, ".clicks").text == "1")
            assert not console_errors(driver)


# Runs before the page's own scripts: records in window.seenAt when (performance.now(), ms)
# the shell, the fallback and the slow part are first in the document.
SEEN_AT = """
window.seenAt = {};
new MutationObserver(() => {
  for (const [name, selector] of [['shell', '.shell'], ['loading', '.loading'], ['slow', '.slow-part']]) {
    if (!(name in window.seenAt) && document.querySelector(selector)) window.seenAt[name] = performance.now();
  }
}).observe(document, {childList: true, subtree: true});
"""


def test_example_build_check_names_the_command(monkeypatch):
    """Without node_modules or the build, the example's tests fail saying what to run."""
    from . import example_support

    monkeypatch.setattr(example_support, "BUILT_FILES", [example_support.REPO / "nowhere" / "x.js"])
    with pytest.raises(pytest.fail.Exception, match=r"npm ci && npm run build:example"):
        require_example_build()


def test_missing_chromium_fails_naming_ci_run(monkeypatch):
    """No silent skip: without Chromium the browser test fails and says .ci/run installs it."""
    from .support import browser

    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match=r"\.ci/run` installs them"):
        with chromium():
            pass  # pragma: no cover

