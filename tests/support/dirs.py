"""Directories the tests make for themselves."""

import shutil
import tempfile
from contextlib import contextmanager


@contextmanager
def short_temp_dir():
    """A new directory with a short path: a socket path has ~104 bytes at most, and
    pytest's tmp_path alone can take most of them."""
    path = tempfile.mkdtemp(prefix="jsh-", dir="/tmp")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
