"""README.rst is what PyPI shows and what a newcomer follows: it must render, and its two
set-up commands must be the ones CI runs."""

import docutils.core
import docutils.utils

from .support.paths import REPO

README = (REPO / "README.rst").read_text()


def test_readme_renders_without_warnings():
    docutils.core.publish_string(
        README, writer="null", settings_overrides={"report_level": 2, "halt_level": 2}
    )


def test_the_two_commands_are_the_makefiles_and_ci_runs_the_test_one():
    assert "\n    make example\n" in README
    assert "\n    make test\n" in README
    makefile = (REPO / "Makefile").read_text()
    assert "\nexample:" in makefile and "\ntest:" in makefile
    assert "\nmake test\n" in (REPO / ".ci" / "run").read_text()
