"""A user's code, type-checked by mypy as their editor would check it: what the types of
django_js_host say to someone who calls it (tests/test_typing.py, tests/test_wheel.py)."""

import re
import subprocess
import sys

# Each line that mypy should remark on says what it should say: ``reveals: TYPE`` for a
# reveal_type(), ``error: CODE`` for a mistake the types must catch.
USER_CODE = '''\
from django_js_host import Function, FunctionError, JSHostError
from django_js_host.conf import settings
from django_js_host.host import host

greet = Function("hello_world", timeout=2.0)
reveal_type(greet.call_json(name="Ada"))  # reveals: Any
reveal_type(greet.call(name="Ada"))  # reveals: str | bytes
reveal_type(greet.batch([{"name": "Ada"}, {"name": "Bob"}]))  # reveals: list[Any]


async def page() -> None:
    reveal_type(await greet.acall(name="Ada"))  # reveals: str | bytes


try:
    greet.call()
except FunctionError as error:
    reveal_type(error.js_name)  # reveals: str
    reveal_type(error.js_stack)  # reveals: str
except JSHostError as error:
    reveal_type(error)  # reveals: django_js_host.exceptions.JSHostError

reveal_type(settings.FUNCTION_TIMEOUT)  # reveals: float
reveal_type(settings.ROOT_URL)  # reveals: str | None
reveal_type(host.get_url())  # reveals: str
settings.FUNCTION_TIMOUT  # error: attr-defined
greet.call("Ada")  # error: call-arg
Function("hello_world", timeout="2")  # error: arg-type
'''

EXPECTED = {
    number: tuple(match.groups())
    for number, line in enumerate(USER_CODE.splitlines(), start=1)
    if (match := re.search(r"# (reveals|error): (.+)$", line))
}
MYPY_LINE = re.compile(r"user_code\.py:(\d+): (note|error): (.*)")


def mypy_says(directory, *mypy_args, cwd=None):
    """What this venv's mypy (strict) says about USER_CODE, written into ``directory``, as
    {line: ("reveals", type) or ("error", code)}, to compare with EXPECTED.

    Its cache goes in ``directory`` too: a cold run over the package and django-stubs takes
    a few seconds.
    """
    (directory / "user_code.py").write_text(USER_CODE)
    (directory / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    finished = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(directory / "mypy.ini"),
         "--cache-dir", str(directory / "mypy_cache"), *mypy_args, str(directory / "user_code.py")],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip
    said = {}
    for line in finished.stdout.splitlines():
        match = MYPY_LINE.search(line)
        if match is None:
            continue
        number, kind, text = match.groups()
        if kind == "note" and text.startswith("Revealed type is "):
            said[int(number)] = ("reveals", _plain_type(text.removeprefix("Revealed type is ").strip('"')))
        elif kind == "error":
            said[int(number)] = ("error", text.rpartition("[")[2].rstrip("]"))
    assert said, f"mypy said nothing we understand:\n{finished.stdout}\n{finished.stderr}"
    return said


def _plain_type(text):
    """A revealed type as mypy 2 writes it (``str | None``); mypy 1 writes
    ``Union[builtins.str, None]``."""
    text = text.replace("builtins.", "")
    union = re.fullmatch(r"Union\[(.*)\]", text)
    return " | ".join(union.group(1).split(", ")) if union else text
