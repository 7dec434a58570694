"""gunicorn's hooks for the site of benchmarks/ssr.py: -c python:ssr_site.gunicorn."""


def worker_exit(server, worker):
    from ssr_site.views import close_mini_racer

    close_mini_racer()
