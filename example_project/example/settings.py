"""A small Django site whose pages are rendered by JS functions in a Node host.

    make example     # from the top of the repository, then open http://127.0.0.1:8000/

* ``/``           a React component rendered on the server (react-dom/server, in the host)
                  and hydrated in the browser;
* ``/streaming/`` a React component streamed as the host renders it (renderToPipeableStream):
                  its shell at once, a slow part inside <Suspense> when its data is ready;
* ``/markdown/``  Markdown rendered to HTML by markdown-it, in the host;
* ``/greeting/``  a line of text from a JS function, escaped like any variable.

The templates call the functions with ``{% js_function_html %}`` and ``{% js_function %}``.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent  # example_project/
REPOSITORY = BASE_DIR.parent

SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"
INSTALLED_APPS = ["django.contrib.staticfiles", "django_js_host"]
MIDDLEWARE = [
    # The calls of one page carry its X-Request-ID (or one id made for it): see README.rst.
    "django_js_host.middleware.RequestIdMiddleware",
    "django.middleware.common.CommonMiddleware",
    "example.middleware.served_by",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example" / "templates"],
        "APP_DIRS": True,
    }
]
STATIC_URL = "static/"
# The browser bundle that `npm run build:example` writes (gitignored, like the host's copy).
STATICFILES_DIRS = [BASE_DIR / "dist" / "static"]
USE_TZ = True

JS_HOST = {
    # The project's root: where node_modules is (package.json is at the repository's top).
    "SOURCE_ROOT": str(REPOSITORY),
    "CONFIG_FILE": "example_project/host.config.js",
    # In development a detached manager starts the host at the first call (here: as
    # runserver starts) and keeps it warm across the autoreloader's restarts. In production
    # (DEBUG off) run the host yourself, under your supervisor: see README.rst.
    "USE_MANAGER": DEBUG,
}

# Under DEBUG, with django-debug-toolbar installed (pip install django-js-host[toolbar]), the
# toolbar shows a "JS host" panel: each call the page made, its timing, sizes and errors.
try:
    import debug_toolbar.settings
except ImportError:
    debug_toolbar = None
if DEBUG and debug_toolbar is not None:
    INSTALLED_APPS += ["debug_toolbar"]
    MIDDLEWARE.insert(0, "debug_toolbar.middleware.DebugToolbarMiddleware")
    DEBUG_TOOLBAR_PANELS = [*debug_toolbar.settings.PANELS_DEFAULTS, "django_js_host.panels.JSHostPanel"]
    INTERNAL_IPS = ["127.0.0.1"]
