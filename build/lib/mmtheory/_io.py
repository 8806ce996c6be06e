"""Atomic file writes: a reader never sees a half-written file, and a kill leaves the old one intact.

One helper, :func:`atomic_open`, serves every writer of the package (claim records, run histories,
checkpoints written with ``torch.save``, the CREMA-D cache's JSON files, the build's timings): the
content goes to a temporary file in the destination folder, is flushed and ``fsync``-ed, gets the
mode an ordinary ``open`` would give (``0o666 & ~umask``; ``mkstemp`` creates files ``0600``, which a
colleague sharing a cache or results folder could not read), replaces the destination with
``os.replace`` and the folder itself is ``fsync``-ed so the rename survives a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

#: Prefix and suffix of the temporary files (``.<name>.<random>.tmp``): :func:`remove_stale_temporaries`.
TMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _not_writable(path: Path, exc: OSError) -> PermissionError:
    return PermissionError(
        f"cannot write {path}: {exc.strerror or exc} in {path.parent}. Choose a writable folder "
        "(or fix its permissions); nothing was changed there.")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` atomically when the ``with`` block ends without error.

    Parameters
    ----------
    path : path-like
        Destination; its parent folders are created.
    mode : {"w", "wb"}
        Text (UTF-8 by default) or binary.
    encoding : str, optional
        Text encoding (ignored for ``"wb"``).

    Yields
    ------
    file object
        Write to it; on an exception (or a kill) the destination is left as it was and the
        temporary file is removed (a hard kill can leave a ``.<name>.*.tmp`` file behind, never a
        half-written destination).

    Raises
    ------
    PermissionError
        If the folder is not writable, with a message naming it.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}.")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except PermissionError as exc:
        raise _not_writable(path, exc) from None
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`); return the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_open`); return the path.

    Parameters
    ----------
    path : path-like
        Destination. Its parent folders are created.
    text : str
        The content.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Serialize ``obj`` as indented, key-sorted JSON and write it atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files that a killed writer left in ``folder``; return them."""
    folder = Path(folder)
    gone = []
    if folder.is_dir():
        for p in folder.glob(f".*{TMP_SUFFIX}"):
            if p.is_file():
                p.unlink(missing_ok=True)
                gone.append(p)
    return gone
