"""Where sectune may write: every output is checked before any work, and nothing sectune did not
create is ever deleted or overwritten.

Rules, the same for every command and the Python API:

- an output never resolves to an input (same file, symlinks and ``..`` resolved), and a directory
  output never contains one;
- a directory output is new, empty, or one sectune wrote before (recognised by a marker file such
  as ``sectune.json``); replacing it is said in the log;
- a file output is not a directory, and its folder can be created and written to (checked by
  writing a probe file, since permission bits do not tell what ``/proc`` or a read-only mount
  accepts);
- a model directory is built in ``.NAME.partial/`` beside it, locked while a run writes it, and
  swapped in only when complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from sectune.errors import SectuneError

log = logging.getLogger("sectune")

MODEL_MARKERS = ("sectune.json",)  # a sectune model directory
StrPath = str | os.PathLike


def _real(path: StrPath) -> Path:
    """The path as the file system will resolve it: symlinks followed, ``..`` collapsed."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _inputs(inputs: Iterable[object]) -> list[tuple[str, Path]]:
    """(as given, resolved) for the inputs that name something on disk (not stdin, not a hub id)."""
    out = []
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)) or os.fspath(item) in ("", "-"):
            continue
        if os.path.lexists(os.path.expanduser(os.fspath(item))):
            out.append((os.fspath(item), _real(item)))
    return out


def _usable_folder(folder: Path, shown: StrPath) -> None:
    """Prove that ``folder`` can be created and take a new file, without creating anything: a probe
    file is written (and removed) in its nearest existing ancestor, since permission bits do not
    tell what ``/proc``, a read-only mount or root's view of them accepts."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SectuneError(f"cannot be written: {existing} is a file, not a folder", path=shown)
    probe = existing / f".sectune-probe-{secrets.token_hex(4)}"
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise SectuneError(
            f"cannot be written ({exc.strerror or type(exc).__name__} in {existing})", path=shown
        ) from None


def _special(path: StrPath) -> str | None:
    """Why ``path`` can never be an output directory: '.', '..', the current folder or one above it, the root."""
    given = Path(os.fspath(path))
    if given.name in ("", ".", "..") or given.parts[-1:] in ((".",), ("..",)):
        return "is not a usable output name: name a new folder"
    real, here = _real(path), Path.cwd().resolve()
    if real == real.parent or _inside(here, real):
        return "is the current folder or one above it: name a new folder"
    return None


def check_output_file(path: StrPath, *, inputs: Iterable[object] = ()) -> Path:
    """Refuse, before any work, a file output that is an input, a folder, or unwritable.

    An existing file that is not an input is replaced (atomically), as ``-o`` does everywhere;
    a file inside an input folder (a model directory) is never overwritten.
    """
    shown = os.fspath(path)
    given = Path(os.path.expanduser(shown))
    if not shown or given.name in ("", ".", "..") or shown.endswith(os.sep):
        raise SectuneError("is a folder name; expected a file to write", path=shown)
    if given.is_dir():
        raise SectuneError("is an existing folder; expected a file to write", path=shown)
    real = _real(given)
    for name, source in _inputs(inputs):
        if real == source:
            raise SectuneError(
                f"is the input {name}: writing it would destroy the input; choose another output", path=shown
            )
        if source.is_dir() and _inside(real, source) and os.path.lexists(real):
            raise SectuneError(f"is a file inside the input {name}; choose an output outside it", path=shown)
    _usable_folder(given.parent, shown)
    return given


def check_output_dir(
    path: StrPath,
    *,
    inputs: Iterable[object] = (),
    markers: tuple[str, ...] = MODEL_MARKERS,
    what: str = "sectune model",
) -> Path:
    """Refuse, before any work, a folder output that would destroy data.

    Allowed: a new path, an empty folder, or a folder holding one of ``markers`` (a ``what`` sectune
    wrote before, which the run replaces and says so). Refused: a file, any other non-empty folder,
    '.', the current folder or one above it, a folder that is or contains an input.
    """
    shown = os.fspath(path)
    why = _special(path)
    if why:
        raise SectuneError(why, path=shown)
    given = Path(os.path.expanduser(shown))
    real = _real(given)
    for name, source in _inputs(inputs):
        if _inside(source, real):
            raise SectuneError(
                f"{'is' if source == real else 'contains'} the input {name}; choose an output that holds no input",
                path=shown,
            )
    if given.is_file() or (os.path.lexists(given) and not given.is_dir()):
        raise SectuneError("exists and is a file; sectune writes a folder there: choose another path", path=shown)
    if given.is_dir() and any(given.iterdir()):
        if not any((given / marker).is_file() for marker in markers):
            raise SectuneError(
                f"is a folder that is not a {what} and is not empty; sectune replaces only what it wrote: "
                "choose a new or empty folder",
                path=shown,
            )
        log.info("%s: replacing the %s there when this run completes", shown, what)
    _usable_folder(given.parent, shown)
    return given


def fix_weight_modes(directory: Path) -> None:
    """Give weight files the user's umask, like every other file.

    safetensors writes through a private temporary file (mode 0600), so other users could list a
    model directory but not load it.
    """
    mask = os.umask(0)
    os.umask(mask)
    for path in directory.rglob("*.safetensors"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~mask)


@contextlib.contextmanager
def _locked(folder: Path, shown: StrPath) -> Iterator[None]:
    """An exclusive lock on ``folder`` for as long as a run writes it, so a second run refuses
    instead of deleting the first's work (flock: released by the kernel if the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, the rest still holds
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SectuneError(
                f"another sectune run is writing this output (its staging folder {folder.name} is locked); "
                "wait for it to finish or choose another output",
                path=shown,
            ) from None
        yield
    finally:
        os.close(fd)


def staging_path(final: StrPath) -> Path:
    """Where :func:`staged_dir` builds ``final``: ``.NAME.partial`` beside it (every training process agrees)."""
    final = Path(os.path.abspath(os.path.expanduser(os.fspath(final))))
    return final.with_name(f".{final.name}.partial")


@contextlib.contextmanager
def staged_dir(
    final: StrPath, *, markers: tuple[str, ...] = MODEL_MARKERS, what: str = "sectune model"
) -> Iterator[Path]:
    """Build a directory beside ``final`` and swap it in only when complete.

    The staging dir ``.NAME.partial`` is locked while in use, reused if present and kept on failure,
    so an interrupted run can resume; the old ``final`` (checked again to be one sectune wrote) is
    deleted only after the new one is in place.
    """
    final = Path(os.path.abspath(os.path.expanduser(os.fspath(final))))
    staging = staging_path(final)
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SectuneError("exists and is not a folder", path=staging) from None
    with _locked(staging, final):
        yield staging
        old = None
        if final.exists() or final.is_symlink():
            check_output_dir(final, markers=markers, what=what)  # still ours: nothing else was put there meanwhile
            old = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
            os.rename(final, old)
        try:
            os.rename(staging, final)
        except BaseException:
            if old is not None:
                os.rename(old, final)
            raise
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
