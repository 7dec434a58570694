"""WSGI entry point, e.g. ``gunicorn --preload -w 2 example.wsgi`` (run in example_project/).

Loading it sets Django up, and the app's ready() connects to the host before the server
forks its workers (see django_js_host/apps.py).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")

application = get_wsgi_application()
