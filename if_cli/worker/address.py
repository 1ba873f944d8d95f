"""Where a worker listens: a private Unix socket by default, or a TCP address.

The default socket is ``worker.sock`` in the user's runtime folder (platformdirs:
``$XDG_RUNTIME_DIR/if-cli``, else a folder of the user's own in the temporary folder).
That folder must be the user's and closed to everyone else (0700), and the socket is
0600: the file system is the lock, so a local worker needs no key.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from if_cli.errors import InvalidRequestError, WorkerError

SOCKET_NAME = "worker.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 104–108 bytes, depending on the system
AUTO, OFF = "auto", "off"


@dataclass(frozen=True)
class Address:
    """A Unix socket (``path``) or a TCP ``host`` and ``port``."""

    path: Path | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"http://{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.path is not None:
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host or "").is_loopback
        except ValueError:
            return False


def runtime_folder() -> Path:
    """platformdirs' runtime folder for if-cli (WorkerError where it refuses the one it
    would use: another user's, or a symlink)."""
    from platformdirs import user_runtime_path

    with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set": the fallback is fine
        warnings.simplefilter("ignore")
        try:
            return user_runtime_path("if-cli")
        except OSError as error:
            raise WorkerError(
                f"no private runtime folder for the worker's socket: {error}",
                hint="set XDG_RUNTIME_DIR to a folder only you can open, or pass --socket",
            ) from error


def default_socket() -> Path:
    return runtime_folder() / SOCKET_NAME


def parse_listen(text: str) -> Address:
    """``--listen HOST:PORT`` (``[::1]:PORT`` for IPv6)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidRequestError(
            f"--listen must be HOST:PORT (such as 127.0.0.1:7860), got {text!r}"
        )
    return Address(host=host, port=int(port))


def worker_setting(text: str) -> str:
    """``--worker``'s value checked: ``auto``, ``off`` (any case) or a valid address."""
    if text.lower() in (AUTO, OFF):
        return text.lower()
    parse_worker(text)
    return text


def parse_worker(text: str) -> Address:
    """``--worker ADDRESS``: a socket path (with a ``/``, or ``unix:PATH``) or
    ``http://HOST:PORT``; anything else is a typo (``offf``), refused with exit 2."""
    wrong = InvalidRequestError(
        f"--worker takes auto, off, a socket path (with a /) or http://HOST:PORT; got {text!r}"
    )
    if text.startswith(("http://", "https://")):
        rest = text.split("://", 1)[1].rstrip("/")
        if text.startswith("https://") or "/" in rest:
            raise wrong
        try:
            return parse_listen(rest)
        except InvalidRequestError:
            raise wrong from None
    if not text.startswith("unix:") and "/" not in text:
        raise wrong
    path = Path(text.removeprefix("unix:")).expanduser()
    return Address(path=path.absolute())


def private_folder(folder: Path) -> None:
    """Make ``folder`` (0700, and so any missing folder above it) or check that it is
    the user's and closed to others."""
    try:
        for missing in reversed([folder, *folder.parents]):
            if not os.path.lexists(missing):
                missing.mkdir(mode=0o700)
        info = folder.lstat()
    except OSError as error:
        raise WorkerError(f"cannot make the socket folder {folder}: {error.strerror}") from error
    if not stat.S_ISDIR(info.st_mode):
        raise WorkerError(f"the socket folder {folder} is not a folder")
    if not _private(info):
        raise WorkerError(
            f"the socket folder {folder} is not private (owner {info.st_uid}, mode "
            f"{stat.S_IMODE(info.st_mode):04o})",
            hint="use a folder only you can open (chmod 700), or --socket elsewhere",
        )


def trusted_socket(path: Path) -> str | None:
    """Why the socket at ``path`` cannot be trusted to be the user's own worker, or None.

    A worker gets the prompts and gives back the pixels: a socket of another user's (in
    a shared temporary folder, say) must not be taken for ours. The socket and its
    folder must be the user's, the folder closed to others, and the folder above it
    writable by no one else (or sticky, as /tmp), so no one can swap them.
    """
    uid = os.getuid()
    try:
        sock, folder, above = path.lstat(), path.parent.lstat(), path.parent.parent.lstat()
    except OSError as error:
        return f"{path}: {error.strerror}"
    if not stat.S_ISSOCK(sock.st_mode) or sock.st_uid != uid:
        return f"{path} is not a socket of yours"
    if not stat.S_ISDIR(folder.st_mode) or not _private(folder):
        return f"{path.parent} is not a private folder of yours"
    open_to_others = above.st_mode & 0o022 and not above.st_mode & stat.S_ISVTX
    if above.st_uid not in (uid, 0) or open_to_others:
        return f"{path.parent.parent} can be changed by others"
    return None


def _private(info: os.stat_result) -> bool:
    """The user's own, and closed to everyone else."""
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise InvalidRequestError(
            f"the socket path {path} is longer than {MAX_SOCKET_PATH} bytes, the limit of "
            "Unix sockets",
            hint="choose a shorter --socket path",
        )
