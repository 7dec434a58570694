"""Django settings for the test suite: the app installed, JS_HOST pointed at fixtures."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_js_host"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
JS_HOST = {
    "SOURCE_ROOT": str(FIXTURES),
    "CONNECT_ONCE_CONFIGURED": False,
}
