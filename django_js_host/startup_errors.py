"""A Django process whose JS host setup fails as it starts: what it says, and what happens next.

A management command says it in one line, as Django reports a CommandError, not with a
traceback of Django's start-up machinery, and exits 1. runserver's autoreloading child is
the exception: exiting would end runserver for good, since its autoreloader restarts it
only for a change to a file it watches, and it watches Python files. So it says the same
line and serves on (a call raises the error until it is fixed), and the config file and
the files the JS error names go into the autoreloader's watch list: fixing the JS restarts
the server, which then connects again.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .conf import PACKAGED_BIN

if TYPE_CHECKING:
    from django.utils.autoreload import BaseReloader

# A file and line in a JS error or stack: "/srv/site/greeting.js:3" (":7" may follow),
# as node prints a SyntaxError's place and each frame of a stack.
JS_LOCATION = re.compile(r"(/[^\s():'\"]+):(\d+)")
# Our own files (the CLI, config.js ...) are in every stack of a config that does not load:
# never the place to fix.
OWN_JS = os.path.dirname(os.path.dirname(PACKAGED_BIN))


def one_line(error: BaseException) -> str:
    """The error in one line: its first line (which says what failed), and where in the
    user's JS, when the JS error says so on a later line."""
    text = str(error).strip()
    first = text.partition("\n")[0]
    places = places_to_fix(text)
    if places and f"{places[0][0]}:{places[0][1]}" not in first:
        first += f" (at {places[0][0]}:{places[0][1]})"
    return f"{type(error).__name__}: {first}"


def places_to_fix(text: str) -> list[tuple[str, int]]:
    """(file, line) of every existing user file ``text`` names, first named first: not ours,
    not an installed package's."""
    places = []
    for found, line in JS_LOCATION.findall(text):
        path = "/" + found.lstrip("/")  # an ES module's place is a URL: file:///srv/site/x.mjs:3
        is_theirs = not path.startswith(OWN_JS + os.sep) and f"{os.sep}node_modules{os.sep}" not in path
        if is_theirs and os.path.isfile(path):
            places.append((path, int(line)))
    return places


def exit_with(error: BaseException) -> NoReturn:
    """Say ``error`` in one line on stderr and exit 1, as a failing management command does."""
    raise SystemExit(one_line(error))


def serve_on_and_watch(error: BaseException, config_file: str) -> None:
    """Under runserver's autoreloader: say ``error`` in one line and watch the files to fix."""
    from django.utils.autoreload import autoreload_started

    files = {Path(config_file), *(Path(path) for path, _ in places_to_fix(str(error)))}
    print(f"{one_line(error)} [runserver restarts when you fix it]", file=sys.stderr, flush=True)

    def watch_files_to_fix(sender: BaseReloader, **kwargs: Any) -> None:
        sender.extra_files.update(files)

    autoreload_started.connect(watch_files_to_fix, weak=False)
