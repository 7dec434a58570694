"""A real URLconf for the template tests: one page per template engine."""

from django.shortcuts import render
from django.urls import path


def greeting_page(request, engine):
    context = {"name": request.GET.get("name", "World"), "number": int(request.GET.get("number", 0))}
    return render(request, "greeting_page.html", context, using=engine)


urlpatterns = [
    path("django/", greeting_page, {"engine": "django"}),
    path("jinja2/", greeting_page, {"engine": "jinja2"}),
]
