"""``manage.py jshost init``: the files of a new project's Node side, and what to do next.

The files are copied from ``starter_files/plain/`` (a host.config.js and a package.json) or,
with ``react``, from ``starter_files/react/`` (those two for React, a component, its two
esbuild builds and the templates that render and hydrate it). Only package.json's ``name``
is filled in. Nothing is written if any of the files exists, unless ``force``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

STARTER_FILES = Path(__file__).resolve().parent / "starter_files"
INSTALL_AND_BUILD = "npm install && npm run build"


def starter_files(react: bool) -> dict[Path, Path]:
    """{path relative to the project: the file it is copied from}, in a stable order."""
    source = STARTER_FILES / ("react" if react else "plain")
    return {
        path.relative_to(source): path for path in sorted(source.rglob("*")) if path.is_file()
    }


def write_starter(directory: Path, *, react: bool = False, force: bool = False) -> list[Path]:
    """Write the starter into ``directory``; return the paths written.

    Raises FileExistsError naming every file that exists (none is written), unless ``force``.
    """
    files = starter_files(react)
    if not force:
        existing = [str(name) for name in files if (directory / name).exists()]
        if existing:
            verb = "exists" if len(existing) == 1 else "exist"
            raise FileExistsError(
                f"Nothing written: {', '.join(existing)} already {verb} in {directory}. "
                "Move them away, or run `jshost init` again with --force to overwrite them."
            )
    written = []
    for name, source in files.items():
        content = source.read_bytes()
        if name == Path("package.json"):
            package = json.loads(content)
            package["name"] = package_name(directory)
            content = (json.dumps(package, indent=2) + "\n").encode()
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(target)
    return written


def package_name(directory: Path) -> str:
    """An npm package name from the project directory's name (lower case, URL-safe)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", directory.name.lower()).strip("-._")
    return name or "django-project"


def next_steps(directory: Path, config_file: Path, base_dir: Path | None, *, react: bool) -> str:
    """What to do after ``write_starter``: install, build, settings, a URL to see it.

    The settings' lines use BASE_DIR when the files went there (as in a project that
    `django-admin startproject` made), and can be pasted at the end of settings.py.
    """
    at_base_dir = base_dir is not None and Path(base_dir).resolve() == directory.resolve()
    root = "BASE_DIR" if at_base_dir else f"Path({str(directory)!r})"
    steps = ["Next:", ""]
    if react:
        steps += [
            "1. Install the npm packages and build the two bundles (`npm run watch` rebuilds them",
            "   as you edit frontend/):",
            "",
            *indented(INSTALL_AND_BUILD),
            "",
            "2. Add to settings.py (the templates' and the browser bundle's directories, and the",
            "   host's settings: under DEBUG a development manager runs it for you):",
            "",
            *indented(react_settings(root)),
            "",
            "3. Add a page to urls.py, run `manage.py runserver`, and open /react/:",
            "",
            *indented(REACT_URLS),
            "",
            "4. Keep node_modules/ and dist/ out of version control (.gitignore): they are",
            "   installed and built.",
        ]
    else:
        steps += [
            "1. Add to settings.py (under DEBUG a development manager runs the host for you):",
            "",
            *indented(js_host_setting(root)),
            "",
            "2. Call the function: {% load js_host %}{% js_function \"greet\" name=\"Ada\" %} in a",
            "   template, or Function('greet').call(name='Ada') (from django_js_host import Function).",
            "   `npm install PACKAGE` adds what your functions require().",
        ]
    if config_file != directory / "host.config.js":
        steps += [
            "",
            f"Your JS_HOST['CONFIG_FILE'] is {config_file}: set it to 'host.config.js' to use this one.",
        ]
    return "\n".join(steps)


def indented(code: str) -> list[str]:
    """``code``'s lines as a block of the steps (blank lines left blank)."""
    return [f"       {line}" if line else "" for line in code.splitlines()]


def js_host_setting(root: str) -> str:
    return f'JS_HOST = {{"SOURCE_ROOT": {root}, "USE_MANAGER": DEBUG}}'


def react_settings(root: str) -> str:
    """The lines --react's files need in settings.py, with ``root`` the project directory."""
    return (
        f'TEMPLATES[0]["DIRS"] += [{root} / "templates"]\n'
        f'STATICFILES_DIRS = [{root} / "dist" / "static"]\n'
        f"{js_host_setting(root)}\n"
    )


# The example page of --react's files: templates/react_example.html with a counter's props.
REACT_URLS = """\
from django.views.generic import TemplateView

urlpatterns += [
    path("react/", TemplateView.as_view(
        template_name="react_example.html",
        extra_context={"props": {"label": "Clicks", "start": 3}},
    )),
]
"""
