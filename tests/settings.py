"""Django settings for the test suite: the app installed, JS_HOST pointed at fixtures."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"

SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_js_host"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
JS_HOST = {
    "SOURCE_ROOT": str(FIXTURES),
    "CONNECT_ONCE_CONFIGURED": False,
}

# A real site for the template tests: tests/urls.py renders pages with both engines.
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [TESTS / "templates" / "django"],
    },
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [TESTS / "templates" / "jinja2"],
        "OPTIONS": {"extensions": ["django_js_host.jinja2.JSHostExtension"]},
    },
]
