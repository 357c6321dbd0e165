"""Atomic writes: files and folders appear whole or not at all, and only what ventgen wrote is replaced."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
import warnings
from pathlib import Path

from ..errors import VentgenValueError, VentgenWarning

__all__ = [
    "atomic_path",
    "atomic_paths",
    "atomic_dir",
    "clean_stale_temporaries",
    "current_umask",
    "hide_temporary_names",
]

# ----------------------------------------------------------------------------------- atomic writes
# Temporary names are ours alone: ``.<target>.vg<pid>-<token>.tmp`` (the new file or folder being
# written) and ``.<target>.vg<pid>-<token>.old`` (a folder being replaced). The pid lets a later run
# tell an entry left by a killed process (stale: removed, or for ``.old`` restored) from one that a
# running process is still writing (left alone).
_TEMP_RE = re.compile(r"^\.(?P<target>.+)\.vg(?P<pid>\d+)-[0-9a-z]{8}\.(?P<kind>tmp|old)(?:\.[0-9A-Za-z]{1,8})?$")


_TEMP_IN_TEXT = re.compile(r"\.(?P<target>[^/\\\s]+?)\.vg\d+-[0-9a-f]{8}\.(?:tmp|old)(?:\.[0-9A-Za-z]{1,8})?")


def hide_temporary_names(text: str) -> str:
    """Replace ventgen's temporary names in a message by the file they stand for.

    Examples
    --------
    >>> hide_temporary_names("out/.model.pt.vg12-0a1b2c3d.tmp: No space left on device")
    'out/model.pt: No space left on device'
    """
    return _TEMP_IN_TEXT.sub(lambda m: m["target"], text)


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _apply_umask(path: Path, directory: bool = False) -> None:
    """Give ``path`` the permissions a normal ``open``/``mkdir`` would (0666/0777 minus the umask);
    ``mkstemp``/``mkdtemp`` create 0600/0700 whatever the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def _temp_name(path: Path, kind: str, suffix: str = "") -> Path:
    token = secrets.token_hex(4)
    return path.parent / f".{path.name}.vg{os.getpid()}-{token}.{kind}{suffix}"


def _suffix(suffix: str | None) -> str:
    """A temporary name's ending: ``""`` or a dot and 1-8 letters or digits (``".h5"``, ``".png"``)."""
    if not suffix:
        return ""
    if not re.fullmatch(r"\.[0-9A-Za-z]{1,8}", suffix):
        raise VentgenValueError(f"suffix must be a dot and 1-8 letters or digits, got {suffix!r}")
    return suffix


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's) or cannot tell: leave it alone
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_stale_temporaries(folder) -> list[str]:
    """Remove the temporary files and folders that a killed ventgen run left in ``folder``.

    Only entries of ventgen's own naming (``.<name>.vg<pid>-<token>.tmp`` / ``.old``) whose process
    is no longer running are touched. A stale ``.old`` folder whose target is missing (a run killed in
    the middle of replacing a folder) is renamed back to its target instead of removed, so the old
    output is never lost. A :class:`~ventgen.errors.VentgenWarning` says what was done.

    Returns
    -------
    list of str
        One line per entry removed or restored.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / ".x.pt.vg999999999-abcdefgh.tmp").write_text("half")
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     done = clean_stale_temporaries(d)
    >>> done, sorted(p.name for p in d.iterdir())
    (['removed .x.pt.vg999999999-abcdefgh.tmp'], [])
    """
    folder = Path(folder)
    done = []
    if not folder.is_dir():
        return done
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return done
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or _pid_alive(int(m["pid"])):
            continue
        target = folder / m["target"]
        if m["kind"] == "old" and not target.exists():
            inner = entry / "old"
            src = inner if inner.exists() else entry
            try:
                os.replace(src, target)
                done.append(f"restored {target.name} from {entry.name}")
            except OSError:
                continue
            if src is not entry:
                _remove(entry)
            continue
        _remove(entry)
        done.append(f"removed {entry.name}")
    if done:
        warnings.warn(
            f"{folder}: cleaned up after an interrupted ventgen run: " + "; ".join(done),
            VentgenWarning,
            stacklevel=2,
        )
    return done


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = False, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted or failed write leaves no partial file (a killed process leaves a hidden
    temporary that the next write in that folder removes, see :func:`clean_stale_temporaries`).
    Refuses to replace an existing file unless ``overwrite`` is true (raises
    :class:`FileExistsError`). The file gets the permissions of a normally created one (0666 minus
    the umask).

    ``suffix`` (e.g. ``".npz"``) ends the temporary name, for writers that choose the format by it.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with atomic_path(os.path.join(d, "x.txt")) as tmp:
    ...     _ = open(tmp, "w").write("hello")
    >>> open(os.path.join(d, "x.txt")).read()
    'hello'
    """
    with atomic_paths([path], overwrite=overwrite, suffix=suffix) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(paths, *, overwrite: bool = False, suffix: str | None = None):
    """Write several files as one set: yield temporary paths, rename them all only on success.

    Every target is checked before any work starts (an existing one is refused unless ``overwrite``),
    so a run that would fail on its second output fails before writing its first. If the block fails
    or the process is killed, none of the targets is created or changed.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with atomic_paths([os.path.join(d, "a.txt"), os.path.join(d, "b.txt")]) as (ta, tb):
    ...     _ = open(ta, "w").write("a"); _ = open(tb, "w").write("b")
    >>> sorted(os.listdir(d))
    ['a.txt', 'b.txt']
    """
    targets = [Path(p) for p in paths]
    if len({t.resolve() for t in targets}) != len(targets):
        raise VentgenValueError(f"the same output file is named twice: {[str(t) for t in targets]}")
    for t in targets:
        if t.is_dir():
            raise IsADirectoryError(21, "is a folder; expected a file path", str(t))
        if t.exists() and not overwrite:
            raise FileExistsError(17, "exists; pass overwrite=True (or --overwrite) to replace it", str(t))
    for parent in dict.fromkeys(t.parent for t in targets):
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(parent)
    tmps = []
    try:
        for t in targets:
            tmp = _temp_name(t, "tmp", _suffix(suffix))
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            os.close(fd)
            tmps.append(tmp)
        yield tmps
        for tmp in tmps:
            if tmp.exists():
                _apply_umask(tmp)
        for tmp, t in zip(tmps, targets, strict=True):
            os.replace(tmp, t)
    except BaseException:
        for tmp in tmps:
            _remove(tmp)
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux ``renameat2(RENAME_EXCHANGE)``; False when unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


@contextlib.contextmanager
def atomic_dir(path, *, replace: bool = False):
    """Yield a temporary folder beside ``path``; put it in place of ``path`` only on success.

    With ``replace``, an existing folder is swapped for the new one in one atomic step (Linux
    ``renameat2``); where that is unsupported, the old folder is first renamed to a hidden
    ``.old`` name beside it and removed only after the new one is in place, so at every moment
    either the old or the new folder exists on disk (and :func:`clean_stale_temporaries` restores
    an ``.old`` whose run was killed in between). The caller decides whether replacing is safe.

    Examples
    --------
    >>> import os, tempfile
    >>> d = os.path.join(tempfile.mkdtemp(), "out")
    >>> with atomic_dir(d) as tmp:
    ...     _ = (tmp / "a.txt").write_text("a")
    >>> os.listdir(d)
    ['a.txt']
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FileExistsError(17, "exists and is not a folder", str(out))
    if out.exists() and not replace:
        raise FileExistsError(17, "folder exists; pass overwrite=True (or --overwrite)", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out.parent)
    tmp = _temp_name(out, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        _apply_umask(tmp, directory=True)
        if not out.exists():
            os.replace(tmp, out)
        elif _exchange(tmp, out):
            _remove(tmp)  # now holds the old folder
        else:
            old = _temp_name(out, "old")
            os.replace(out, old)
            os.replace(tmp, out)
            _remove(old)
    except BaseException:
        _remove(tmp)
        raise
