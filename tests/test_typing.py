"""The package's types, as a user's editor sees them (mypy over a user's code), and the typed
names of the settings held to the settings that exist.

``make test`` also runs mypy (strict, django-stubs) over the package itself; tests/test_wheel.py
checks the same user code against the installed wheel, where py.typed is what makes the
types visible.
"""

import ast

from django_js_host import conf

from .support.paths import REPO
from .support.user_code import EXPECTED, mypy_says


def test_an_editor_sees_what_calls_return_and_which_errors_exist(tmp_path):
    # From the checkout, as an editor open on it: mypy finds the package in the working
    # directory. About 2 s with a cold cache.
    assert mypy_says(tmp_path, cwd=REPO) == EXPECTED


def _annotated_names(class_name):
    """The names annotated in conf.py's class ``class_name``, with their annotations."""
    tree = ast.parse((REPO / "django_js_host" / "conf.py").read_text())
    (found,) = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == class_name]
    return {
        node.target.id: ast.unparse(node.annotation)
        for node in found.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


def test_every_setting_is_typed_alike_as_attribute_and_dict_key():
    # ResolvedSettings (the type of settings.as_dict()) exists for type checkers only, so
    # it is read from the source; Settings' annotations type settings.FUNCTION_TIMEOUT & co.
    resolved = _annotated_names("ResolvedSettings")
    assert list(resolved) == list(conf.DEFAULTS) == list(conf.VALIDATORS)
    assert _annotated_names("Settings") == resolved
    assert list(conf.Settings.__annotations__) == list(conf.DEFAULTS)
