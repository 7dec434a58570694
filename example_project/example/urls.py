from django.conf import settings
from django.urls import path

from . import views

urlpatterns = [
    path("", views.item_counter, name="item_counter"),
    path("streaming/", views.slow_page, name="slow_page"),
    path("markdown/", views.markdown, name="markdown"),
    path("greeting/", views.greeting, name="greeting"),
]

if "debug_toolbar" in settings.INSTALLED_APPS:  # see settings.py
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
