"""One folder per machine for what workers make once from a model: MLflow downloads, ONNX exports,
OpenVINO conversions.

An entry is made by one worker under a file lock while the others on the machine wait for it, in a
staging folder renamed into place whole, so a worker killed halfway leaves nothing half-made; an
entry that fails its check (or that its reader finds corrupt, `discard`) is made again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

logger = logging.getLogger("sparkner")
Opened = TypeVar("Opened")

CACHE_ENV = "SPARKNER_CACHE_DIR"
MADE_LOG = "made.log"  # beside the entries of a kind: one line per entry made (what was made where, and when)


def cache_root(cache_dir: str | None, kind: str) -> Path:
    """`cache_dir`, else `$SPARKNER_CACHE_DIR`, else `~/.cache/sparkner`; each kind of entry in its folder."""
    root = cache_dir or os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "sparkner")
    return Path(root) / kind


def entry_name(readable: str, *identity: object) -> str:
    """A folder name: a readable part, then a digest of everything that makes the entry what it is."""
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", readable).strip("-")[:80]
    digest = hashlib.sha256("|".join(map(str, identity)).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (a file beside the entry) between the processes of this machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def made_once(entry: Path, make: Callable[[Path], None], is_whole: Callable[[Path], bool], note: str = "") -> Path:
    """`entry`, made by `make(staging folder)` unless a whole one is there (`is_whole`); `note` says what
    it is in the log of what was made."""
    if entry.is_dir() and is_whole(entry):
        return entry
    with locked(lock_of(entry)):
        if entry.is_dir() and is_whole(entry):  # another worker made it while this one waited
            return entry
        if entry.exists():
            shutil.rmtree(entry)  # an entry that is not whole: made again
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
        try:
            make(staging)
            staging.rename(entry)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        with open(entry.parent / MADE_LOG, "a") as log:
            log.write(
                f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{socket.gethostname()}\t{os.getpid()}\t{entry.name}\t{note}\n"
            )
    return entry


def lock_of(entry: Path) -> Path:
    """The lock file beside `entry` that its makers (and its readers, where they must) take turns on."""
    return entry.with_name(entry.name + ".lock")


def opened_once(
    entry: Path,
    make: Callable[[Path], None],
    is_whole: Callable[[Path], bool],
    open_entry: Callable[[Path], Opened],
    corrupt: tuple[type[BaseException], ...],
    *,
    what: str,
    note: str,
) -> Opened:
    """`open_entry` of the entry `made_once`; an entry that fails to open with one of the `corrupt`
    errors (a file cut short, a foreign write) is discarded and made once more. `what` names the
    entry's kind in the warning; `note` is `made_once`'s."""
    for attempt in range(2):
        folder = made_once(entry, make, is_whole, note=note)
        try:
            return open_entry(folder)
        except corrupt as error:
            if attempt:
                raise
            logger.warning("sparkner: the %s in %s could not be read (%s); making it again", what, folder, error)
            discard(folder)
    raise AssertionError("unreachable: the second attempt returns or raises")


def discard(entry: Path) -> None:
    """Remove an entry its reader found corrupt, so the next `made_once` makes it again."""
    with locked(lock_of(entry)):
        shutil.rmtree(entry, ignore_errors=True)
