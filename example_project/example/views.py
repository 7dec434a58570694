from django.shortcuts import render

from django_js_host.function import Function

greet = Function("greet")


def greeting(request):
    name = request.GET.get("name", "World")
    return render(request, "greeting.html", {"name": name, "greeting": greet.call(name=name)})
