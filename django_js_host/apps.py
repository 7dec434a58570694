from appconf import AppConf
from django.apps import AppConfig


class JSHostAppConf(AppConf):
    """Declares the JS_HOST setting for django-appconf.

    At app load the project's dict is validated (ConfigError names a bad key or value) and
    completed with every default, so ``settings.JS_HOST`` shows the values in force.
    """

    HOST = {}

    class Meta:
        prefix = "js"

    def configure_host(self, value):
        from .conf import resolve

        return resolve(value)


class DjangoJSHostConfig(AppConfig):
    name = "django_js_host"
    verbose_name = "JS host"

    def ready(self):
        from .conf import settings

        settings.reset()  # django-appconf rewrote JS_HOST without a setting_changed signal
