"""Sharded CycleSets: a folder of CycleSet files (one per recording file) and its ``index.json``.

``ventgen segment DIR... -o cycles/`` writes one CycleSet file per recording file plus an index, so
that many recordings can be segmented by many processes (see :func:`ventgen.workflows.segment_shards`)
without gathering the cycles in one process. The index (written last) lists the shard files in input
order, each with its source recording file, its number of recordings, breaths and cycles and the
SHA-256 of its bytes, and the segmentation parameters.

In a shard the ``recording`` breath column counts the recordings of its own source file (0, 1, ...);
:func:`iter_shards` and :func:`read_shards` add the number of recordings of the shards before it,
so that the concatenated shards equal the single CycleSet that ``ventgen segment ... -o cycles.h5``
writes for the same inputs.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from ventgen import CycleSet
>>> from ventgen.io.cycleset import write_cycleset
>>> d = tempfile.mkdtemp()
>>> for name in ("a.h5", "b.h5"):
...     cs = CycleSet(np.zeros((2, 2, 10), np.float32), [5, 10], 25)
...     cs.breaths["recording"] = 0
...     _ = write_cycleset(cs, os.path.join(d, name))
>>> entries = [shard_entry(name, "rec/" + name, os.path.join(d, name), n_recordings=1, n_breaths=2,
...                        n_cycles=2, n_labelled=0) for name in ("a.h5", "b.h5")]
>>> _ = write_shard_index(d, entries, parameters={"length": 10})
>>> cs = read_shards(d)
>>> len(cs), cs.breaths["recording"].tolist()
(4, [0, 0, 1, 1])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from .._core import atomic_path
from .._core.limits import MAX_JSON_BYTES
from ..errors import FileFormatError, VentgenValueError
from ..signals.cycles import CycleSet
from ._common import _parse_json
from .cycleset import read_cycleset

__all__ = [
    "INDEX_NAME",
    "SHARDS_FORMAT",
    "SHARDS_FORMAT_VERSION",
    "file_sha256",
    "shard_entry",
    "write_shard_index",
    "read_shard_index",
    "is_shard_folder",
    "iter_shards",
    "read_shards",
    "read_cycles",
]

#: The index file of a shard folder.
INDEX_NAME = "index.json"
#: Its ``format`` and ``format_version`` fields.
SHARDS_FORMAT = "ventgen.cycleset-shards"
SHARDS_FORMAT_VERSION = 1

_ENTRY_COUNTS = ("n_recordings", "n_breaths", "n_cycles", "n_labelled")


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits (read in 1 MiB blocks).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x")
    >>> _ = open(p, "wb").write(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shard_entry(file: str, source: str, path, *, n_recordings: int, n_breaths: int, n_cycles: int,
                n_labelled: int, breath_labels: str | None = None) -> dict:
    """The index entry of the shard ``file`` (a name inside the folder), written at ``path``.

    ``source`` is the recording file it was segmented from (as given), ``breath_labels`` the
    breath-label table applied to it; the SHA-256 is computed from the bytes at ``path``.
    """
    return {"file": str(file), "source": str(source), "n_recordings": int(n_recordings),
            "n_breaths": int(n_breaths), "n_cycles": int(n_cycles), "n_labelled": int(n_labelled),
            "breath_labels": None if breath_labels is None else str(breath_labels),
            "sha256": file_sha256(path)}


def write_shard_index(folder, shards: list, parameters: dict, failed: list | None = None,
                      *, overwrite: bool = False) -> Path:
    """Write ``index.json`` of a shard folder (atomically): the shards in input order, the files that
    failed (``{"source", "error"}``) and the segmentation ``parameters``.

    The JSON is written with sorted keys and a fixed layout, so the same shards and parameters give
    the same bytes. Returns the path written.
    """
    folder = Path(folder)
    names = [s["file"] for s in shards]
    if len(set(names)) != len(names):
        raise VentgenValueError(f"{folder}: a shard file is listed twice in the index")
    doc = {
        "format": SHARDS_FORMAT,
        "format_version": SHARDS_FORMAT_VERSION,
        "n_shards": len(shards),
        "n_recordings": sum(s["n_recordings"] for s in shards),
        "n_cycles": sum(s["n_cycles"] for s in shards),
        "parameters": parameters,
        "shards": list(shards),
        "failed": list(failed or []),
    }
    text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False, default=str)
    path = folder / INDEX_NAME
    with atomic_path(path, overwrite=overwrite) as tmp:
        Path(tmp).write_text(text + "\n", encoding="utf-8")
    return path


def read_shard_index(folder) -> dict:
    """The checked ``index.json`` of a shard folder; errors name the file and the field that is wrong.

    Every shard entry must name a plain file inside the folder (no path separators, no ``..``), once,
    with non-negative counts and a 64-digit SHA-256.
    """
    folder = Path(folder)
    path = folder / INDEX_NAME
    if not folder.is_dir():
        raise FileNotFoundError(2, "No such folder", str(folder))
    if not path.is_file():
        raise FileFormatError(folder, f"no {INDEX_NAME}: not a ventgen shard folder")
    if path.stat().st_size > MAX_JSON_BYTES:  # about 60 000 shards
        raise FileFormatError(path, f"larger than {MAX_JSON_BYTES} bytes; not read")
    doc = _parse_json(path.read_text(encoding="utf-8", errors="replace"), path)
    if not isinstance(doc, dict) or doc.get("format") != SHARDS_FORMAT:
        raise FileFormatError(path, f"expected format {SHARDS_FORMAT!r}", field="format")
    if doc.get("format_version") != SHARDS_FORMAT_VERSION:
        raise FileFormatError(path, f"format_version {doc.get('format_version')!r} is not supported "
                                    f"(this ventgen reads {SHARDS_FORMAT_VERSION})", field="format_version")
    shards = doc.get("shards")
    if not isinstance(shards, list):
        raise FileFormatError(path, "expected a list of shard entries", field="shards")
    seen = set()
    for i, s in enumerate(shards):
        _check_entry(path, i, s, seen)
    return doc


def _check_entry(path: Path, i: int, s, seen: set) -> None:
    where = f"shards[{i}]"
    if not isinstance(s, dict):
        raise FileFormatError(path, "expected an object", field=where)
    name = s.get("file")
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise FileFormatError(path, f"expected a file name inside the folder, got {name!r}", field=where + ".file")
    if name.lower() in seen or name == INDEX_NAME:
        raise FileFormatError(path, f"{name!r} is listed twice (or is the index)", field=where + ".file")
    seen.add(name.lower())
    for key in _ENTRY_COUNTS:
        v = s.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise FileFormatError(path, f"expected a count >= 0, got {v!r}", field=f"{where}.{key}")
    sha = s.get("sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise FileFormatError(path, "expected 64 lower-case hex digits", field=where + ".sha256")


def is_shard_folder(path) -> bool:
    """True when ``path`` is a folder whose ``index.json`` names the shard format (not checked further).

    Examples
    --------
    >>> import tempfile
    >>> is_shard_folder(tempfile.mkdtemp())
    False
    """
    index = Path(path) / INDEX_NAME
    if not index.is_file():
        return False
    try:
        with open(index, "rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return f'"format": "{SHARDS_FORMAT}"' in head


def iter_shards(folder, *, verify: bool = True) -> Iterator[tuple[dict, CycleSet]]:
    """Read the shards of a folder one at a time, in index order: ``(entry, CycleSet)`` pairs.

    Only one shard is in memory at a time (what a training loop over an archive larger than memory
    needs). The ``recording`` breath column is offset by the recordings of the shards before, as in
    :func:`read_shards`. With ``verify`` (default), each file's SHA-256 and cycle count are checked
    against the index first: a shard replaced, truncated or missing is an error that names it.
    """
    folder = Path(folder)
    doc = read_shard_index(folder)
    offset = 0
    for entry in doc["shards"]:
        path = folder / entry["file"]
        if not path.is_file():
            raise FileFormatError(path, f"listed in {INDEX_NAME} but missing")
        if verify and file_sha256(path) != entry["sha256"]:
            raise FileFormatError(path, f"its SHA-256 differs from the one in {INDEX_NAME} (changed after "
                                        "segmentation?)")
        cs = read_cycleset(path)
        if len(cs) != entry["n_cycles"]:
            raise FileFormatError(path, f"holds {len(cs)} cycles; {INDEX_NAME} says {entry['n_cycles']}")
        if offset and "recording" in cs.breaths.columns:
            cs.breaths["recording"] = cs.breaths["recording"].to_numpy() + offset
        offset += entry["n_recordings"]
        yield entry, cs


def read_shards(folder, *, verify: bool = True) -> CycleSet:
    """All shards of a folder as one CycleSet (the concatenation, in index order).

    This loads every cycle into memory, like :func:`ventgen.read_cycleset` of one file; use
    :func:`iter_shards` to visit an archive larger than memory one shard at a time.
    """
    sets = [cs for _, cs in iter_shards(folder, verify=verify)]
    if not sets:
        raise FileFormatError(Path(folder) / INDEX_NAME, "lists no shard")
    return CycleSet.concatenate(sets)


def read_cycles(path) -> CycleSet:
    """A CycleSet from a CycleSet file or a shard folder (:func:`read_shards`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import CycleSet, write_cycleset
    >>> p = write_cycleset(CycleSet(np.zeros((3, 2, 8)), [8, 8, 8], 25), os.path.join(tempfile.mkdtemp(), "c.h5"))
    >>> len(read_cycles(p))
    3
    """
    path = Path(path)
    return read_shards(path) if path.is_dir() else read_cycleset(path)
