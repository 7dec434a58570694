"""Debian's headless Chromium driven by Selenium, for the tests that load pages in a browser
(the example site, the `jshost init --react` starter); every browser process stopped by PID."""

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from .processes import alive, stop_by_pid, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGUMENTS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def processes_with_env(name, value):
    """PIDs of live (not zombie) processes whose environment has ``name=value`` (Linux /proc)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0") and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@contextmanager
def chromium(javascript=True):
    """A Selenium driver for Debian's headless Chromium, with a fresh profile.

    Chromedriver, and so Chromium and its helpers, run with a marker of their own in their
    environment: after ``quit()`` any of them still alive is stopped by PID.
    """
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the browser test needs Debian's Chromium and its "
            "driver. `.ci/run` installs them (CI does); here: "
            "`apt-get update && apt-get install -y chromium chromium-driver`.",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    marker = ("DJANGO_JS_HOST_TEST_BROWSER", uuid.uuid4().hex)
    profile = tempfile.mkdtemp(prefix="test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not javascript:
        options.add_argument("--blink-settings=scriptEnabled=false")
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    # An explicit driver and browser: Selenium Manager has nothing to look up or download.
    service = Service(CHROMEDRIVER, env={**os.environ, marker[0]: marker[1]})
    try:
        driver = webdriver.Chrome(service=service, options=options)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        wait_until(lambda: not processes_with_env(*marker), timeout=5)
        for pid in processes_with_env(*marker):
            stop_by_pid(pid)
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, condition, timeout=10, message=""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition, message)


def console_errors(driver):
    """The page's console errors so far (React reports a hydration mismatch as one), but for
    the /favicon.ico that Chromium asks for on its own, and that a page may not have."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "/favicon.ico - " not in entry["message"]
    ]
