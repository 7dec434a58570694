from django.urls import path

from . import views

urlpatterns = [
    path("", views.item_counter, name="item_counter"),
    path("streaming/", views.slow_page, name="slow_page"),
    path("markdown/", views.markdown, name="markdown"),
    path("greeting/", views.greeting, name="greeting"),
]
