"""Following calls in logs: a host that writes its log to a file, waiting for a line in it,
and the records Python's ``django_js_host`` logger writes at DEBUG."""

import logging
import re
from contextlib import contextmanager

import pytest

from .hosts import free_port, running_host, write_config
from .processes import wait_until


@contextmanager
def running_logged_host(directory, functions_from):
    """A host of ``functions_from``'s functions on a free port, writing its log to
    ``<directory>/host.log`` as well (its ``logfile``); stopped by PID on exit."""
    logfile = directory / "host.log"
    config = write_config(directory, free_port(), functions_from=functions_from)
    with running_host(config, "--logfile", str(logfile)) as host_process:
        host_process.logfile = logfile
        yield host_process


def host_logged(host_process, pattern):
    """True once the host's logfile has a line matching ``pattern`` (its lines go out in batches)."""
    return wait_until(lambda: re.search(pattern, host_process.logfile.read_text(), re.MULTILINE) is not None)


@pytest.fixture
def debug_log(caplog):
    """The django_js_host logger's records, with DEBUG switched on for it."""
    caplog.set_level(logging.DEBUG, logger="django_js_host")
    return lambda: [record for record in caplog.records if record.name == "django_js_host"]
