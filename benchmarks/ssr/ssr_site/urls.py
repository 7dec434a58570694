from django.urls import path

from . import views

urlpatterns = [
    path("host/", views.catalog_from_the_host),
    path("host-cpu-only/", views.catalog_from_the_host_cpu_only),
    path("mini-racer/", views.catalog_from_mini_racer),
    path("floor/", views.catalog_floor),
]
