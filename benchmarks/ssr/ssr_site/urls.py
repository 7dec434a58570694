from django.urls import path

from . import views

urlpatterns = [
    path("host/", views.catalog_from_the_host),
    path("floor/", views.catalog_floor),
]
