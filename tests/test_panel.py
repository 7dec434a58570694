"""The Django Debug Toolbar panel (django_js_host.panels.JSHostPanel): what it records of each
call a request makes, against a real host, and the panel opened in a real browser on the
example site (runserver under DEBUG, the toolbar installed, the development manager's host)."""

import re
import sys

import pytest
from django.template import Context, Engine

from django_js_host import Function, FunctionError, call_log
from django_js_host.links.manager import JSHostManager
from django_js_host.panels import panel_stats

from .example_support import EXAMPLE_CONFIG, example_manager, example_server, require_example_build
from .support.browser import chromium, wait_for
from .support.django_site import site_host, site_settings  # noqa: F401 (fixtures)
from .support.hosts import free_port


def recorded(calls):
    """The records of running ``calls()`` as the panel does for a request."""
    token = call_log.start_recording()
    try:
        calls()
    finally:
        records = call_log.stop_recording(token)
    return records


def test_each_call_is_recorded_with_sizes_time_cache_error_stack_and_host(site_settings, site_host):
    site_settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    def calls():
        Function("echo").call(text="x" * 1000)
        with pytest.raises(FunctionError):
            Function("double").call()
        cached = Function("hello_world", cache_timeout=60)
        cached.call(name="cache")
        cached.call(name="cache")

    answered, failed, stored, hit = recorded(calls)
    assert answered["function"] == "echo" and answered["outcome"] == "200" and not answered["cached"]
    assert answered["argument_bytes"] == len(b'{"text": "' + b"x" * 1000 + b'"}')
    assert answered["answer_bytes"] == len(b'{"text":"' + b"x" * 1000 + b'"}')
    assert answered["duration_ms"] > 0 and re.fullmatch(r"[0-9a-f]{16}", answered["request_id"])
    assert (answered["host_url"], answered["host_pid"]) == (site_host.url, site_host.pid)

    assert failed["outcome"] == "FunctionError" and failed["answer_bytes"] is None
    assert "No number was provided" in failed["error"]
    assert failed["js_stack"].startswith("Error: No number was provided\n    at ")

    assert (stored["cached"], hit["cached"], hit["outcome"]) == (False, True, "cached")
    assert hit["host_url"] is None and hit["answer_bytes"] == len("Hello, cache!")

    # Nothing is recorded outside a recording.
    Function("echo").call()
    assert recorded(lambda: None) == []

    stats = panel_stats([answered, failed, stored, hit])
    assert (stats["errors"], stats["cache_hits"]) == (1, 1)
    assert stats["hosts"] == [{"url": site_host.url, "pid": site_host.pid, "calls": 3}]
    html = Engine(app_dirs=True).get_template("django_js_host/panel.html").render(Context(stats))
    assert html.count('class="djs-call"') == 4
    assert "No number was provided" in html and '<pre class="djs-stack">' in html
    assert f"<code>{site_host.url}</code> pid {site_host.pid}" in html


def test_the_panel_lists_the_calls_of_a_page_in_the_browser():
    require_example_build()
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with example_manager() as runtime_dir:
        with example_server(command, runtime_dir, f"http://127.0.0.1:{port}/"):
            from selenium.common.exceptions import NoSuchElementException, NoSuchShadowRootException
            from selenium.webdriver.common.by import By

            def toolbar(driver):
                """What holds the toolbar: its shadow root (newer django-debug-toolbars), or the page."""
                try:
                    return driver.find_element(By.ID, "djDebugRoot").shadow_root
                except (NoSuchElementException, NoSuchShadowRootException):
                    return driver

            host_pid = JSHostManager(runtime_dir=runtime_dir).host_status(str(EXAMPLE_CONFIG))["pid"]
            with chromium() as driver:
                driver.get(f"http://127.0.0.1:{port}/?item=Alpha&item=Beta")
                button = wait_for(
                    driver,
                    lambda d: toolbar(d).find_element(By.CSS_SELECTOR, "#djdt-JSHostPanel a.JSHostPanel"),
                    message="the toolbar has no JS host panel",
                )
                assert "1 call in" in button.text
                button.click()
                rows = wait_for(
                    driver,
                    lambda d: toolbar(d).find_elements(By.CSS_SELECTOR, "#JSHostPanel tr.djs-call"),
                    message="the JS host panel lists no call",
                )
                [row] = rows
                cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                assert cells[1:3] == ["render_component", "200"], cells
                assert re.fullmatch(r"\d+\.\d\d ms", cells[3]) and cells[6] == "-"
                assert re.fullmatch(r"[0-9a-f]{16}", cells[7]), cells  # made for the page by the middleware
                assert cells[8].startswith("unix:") and cells[8].endswith(f"pid {host_pid}"), cells
