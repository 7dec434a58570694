"""A small Django site that renders with functions from a JS host."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "example.urls"
INSTALLED_APPS = ["django.contrib.staticfiles", "django_js_host"]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example" / "templates"],
        "APP_DIRS": True,
    }
]
STATIC_URL = "static/"
USE_TZ = True

JS_HOST = {
    "SOURCE_ROOT": str(BASE_DIR),
    "CONFIG_FILE": "host.config.js",
}
