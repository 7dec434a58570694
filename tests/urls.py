"""A real URLconf for the Django tests: one page per template engine; a page that calls one
function, for the development loop's tests (tests/test_dev_loop.py); pages that report
the request ids their calls carried (sync and async views); and async pages that stream
what functions of tests/js/fixtures/streams.config.js make (tests/test_stream_asgi.py)."""

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path

from django_js_host.function import Function


def greeting_page(request, engine):
    context = {"name": request.GET.get("name", "World"), "number": int(request.GET.get("number", 0))}
    return render(request, "greeting_page.html", context, using=engine)


def greet_page(request):
    return HttpResponse(Function("greet").call(name=request.GET.get("name", "World")))


def request_ids_page(request):
    """The ids two calls of this request carried, as the host's function saw them."""
    return JsonResponse({"ids": [Function("request_id").call() for _ in range(2)]})


async def async_request_ids_page(request):
    return JsonResponse({"ids": [await Function("request_id").acall() for _ in range(2)]})


async def streamed_parts_page(request):
    """The ``part``s, each made ``ms`` ms after the last, streamed as the host makes them."""
    parts, ms = request.GET.getlist("part"), int(request.GET.get("ms", 0))
    return StreamingHttpResponse(Function("async_generator").astream(parts=parts, ms=ms))


async def stream_until_aborted_page(request):
    """A first part, then nothing until the call's signal aborts (seen under ``key``)."""
    return StreamingHttpResponse(Function("generator_until_aborted").astream(key=request.GET["key"]))


urlpatterns = [
    path("streamed-parts/", streamed_parts_page),
    path("stream-until-aborted/", stream_until_aborted_page),
    path("request-ids/", request_ids_page),
    path("async-request-ids/", async_request_ids_page),
    path("django/", greeting_page, {"engine": "django"}),
    path("jinja2/", greeting_page, {"engine": "jinja2"}),
    path("greet/", greet_page),
]
