"""The per-user private directory: the manager's socket, its hosts' sockets and logfiles.

The manager runs code on request, so only its own user may reach it. It listens on a Unix
socket inside a 0700 directory that the user owns: the kernel lets no one else connect,
so no secret needs to travel. Anything else found at that path (another owner, a wider
mode, a symbolic link) is refused, never trusted.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

from .exceptions import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see conf.py)
if TYPE_CHECKING:
    from collections.abc import Iterator

MANAGER_SOCKET = "manager.sock"
MANAGER_LOCK = "manager.lock"


def private_directory(parent: str | None = None) -> str:
    """Our user's 0700 directory under ``parent`` (the temp dir), created if missing."""
    if parent is None:
        import tempfile  # here: ~3 ms to import, for the processes that use the manager

        parent = tempfile.gettempdir()
    path = os.path.join(parent, f"django-js-host-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise ConfigError(f"Cannot make the private directory {path}: {os.path.dirname(path)} does not exist") from None
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigError(
            f"{path} must be a directory owned by uid {os.getuid()} that no one else can enter "
            f"(found uid {info.st_uid}, mode {stat.filemode(info.st_mode)}). It holds the socket "
            "of the manager, which runs code as you: remove it, and it is made anew."
        )
    return path


@contextmanager
def manager_start_lock(directory: str) -> Iterator[None]:
    """Held while a process checks for a manager and starts one, so that of two processes
    doing so at once, the second finds the first's manager rather than racing it for the
    socket. The kernel drops the lock if its holder dies."""
    import fcntl  # here: only a process that may start a manager needs it

    descriptor = os.open(os.path.join(directory, MANAGER_LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock
