"""A real URLconf for the template tests, one page per template engine; and a page that
calls one function, for the development loop's tests (tests/test_dev_loop.py)."""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path

from django_js_host.function import Function


def greeting_page(request, engine):
    context = {"name": request.GET.get("name", "World"), "number": int(request.GET.get("number", 0))}
    return render(request, "greeting_page.html", context, using=engine)


def greet_page(request):
    return HttpResponse(Function("greet").call(name=request.GET.get("name", "World")))


urlpatterns = [
    path("django/", greeting_page, {"engine": "django"}),
    path("jinja2/", greeting_page, {"engine": "jinja2"}),
    path("greet/", greet_page),
]
