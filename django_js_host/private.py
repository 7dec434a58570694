"""The per-user private directory: the manager's secret and the logfiles live there.

The manager runs code on request, so only its own user may talk to it. It accepts only
requests that carry a secret which only that user can read: a 0600 file in a 0700
directory that the user owns. Anything else found at that path is refused, never trusted.
"""

import os
import stat
import tempfile

from .exceptions import ConfigError

SECRET_FILE = "manager.secret"


def private_directory(parent=None):
    """Our user's 0700 directory under ``parent`` (the temp dir), created if missing."""
    path = os.path.join(parent or tempfile.gettempdir(), f"django-js-host-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    _check_private(path, stat.S_ISDIR, "directory")
    return path


def read_or_create_secret(directory):
    """The secret in ``directory``, created atomically by whichever process comes first."""
    path = os.path.join(directory, SECRET_FILE)
    if not os.path.lexists(path):
        descriptor, draft = tempfile.mkstemp(dir=directory, prefix=".secret-")  # mode 0600
        try:
            os.write(descriptor, os.urandom(32).hex().encode())  # what secrets.token_hex does
            os.close(descriptor)
            os.link(draft, path)  # fails if another process linked its secret first
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    _check_private(path, stat.S_ISREG, "file")
    with open(path) as secret_file:
        secret = secret_file.read().strip()
    if not secret:
        raise ConfigError(f"The manager secret file {path} is empty: delete it to make a new one.")
    return secret


def _check_private(path, is_kind, kind):
    info = os.lstat(path)
    if not is_kind(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigError(
            f"{path} must be a {kind} owned by uid {os.getuid()} that no one else can access "
            f"(found uid {info.st_uid}, mode {stat.filemode(info.st_mode)}). It holds the secret "
            "that lets a process run code through the manager: remove it, and it is made anew."
        )
