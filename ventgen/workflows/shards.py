"""Segment many recording files into a shard folder: the step behind ``ventgen segment DIR... -o cycles/``.

One task per recording file: read it, segment it, write its CycleSet to ``<stem>.h5`` in the output
folder, and return a small summary (never the cycles). The tasks run one after the other in this
process (``workers=0``) or on Dask (:mod:`ventgen.workflows.distributed`); both write the same files,
byte for byte, and the same ``index.json`` (see :mod:`ventgen.io.shards`), written last. The folder
appears whole or not at all: everything is written in a hidden temporary folder beside it, put in
place at the end.

A file that fails (unreadable, no breath found ...) is skipped: a warning names it, the others are
still written, and the index lists it under ``failed``. Only when every file fails is it an error.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from .. import errors as _errors
from .._core import atomic_dir, hide_temporary_names
from .._core.atomic import _TEMP_RE
from ..errors import VentgenError, VentgenValueError, VentgenWarning
from ..io.cycleset import write_cycleset_file
from ..io.labels import apply_breath_labels
from ..io.recordings import _recording_files, read_recordings
from ..io.shards import (
    INDEX_NAME,
    is_shard_folder,
    read_shard_index,
    shard_entry,
    write_shard_index,
)
from ..signals.cycles import CycleSet, check_cycle_args, recording_cycles
from .distributed import check_workers, runner_for
from .segment import breath_label_tables

__all__ = ["segment_shards", "shard_output_wanted", "shard_names", "segment_one_file"]


def shard_output_wanted(output, *, shards: bool = False, workers: int | None = None, scheduler=None) -> bool:
    """Whether ``ventgen segment`` writes a shard folder: ``--shards``, ``--workers``, ``--scheduler``,
    an output ending with ``/`` or an existing folder.

    Examples
    --------
    >>> shard_output_wanted("cycles/"), shard_output_wanted("cycles.h5"), shard_output_wanted("c", workers=2)
    (True, False, True)
    """
    text = os.fspath(output)
    return (bool(shards) or workers is not None or scheduler is not None
            or text.endswith(("/", os.sep)) or Path(text).is_dir())


def shard_names(files) -> list[str]:
    """One shard file name per recording file, ``<stem>.h5``, in order; a name already taken (case
    ignored) becomes ``<stem>-2.h5``, ``<stem>-3.h5`` ...

    Examples
    --------
    >>> shard_names(["a/rec.csv", "b/rec.h5", "rec-2.csv", ".hidden.csv"])
    ['rec.h5', 'rec-2.h5', 'rec-2-2.h5', 'hidden.h5']
    """
    used, out = set(), []
    for f in files:
        stem = Path(f).stem.lstrip(".") or "recording"
        name, n = f"{stem}.h5", 2
        while name.lower() in used:
            name, n = f"{stem}-{n}.h5", n + 1
        used.add(name.lower())
        out.append(name)
    return out


def _output_folder_replace(out: Path, overwrite: bool) -> bool:
    """Check the output folder before any work; True when an existing one is to be replaced.

    An empty folder is replaced freely; a ventgen shard folder (its index and the shards it lists,
    nothing else) only with ``overwrite``; anything else never.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(17, "exists and is not a folder; a shard folder was asked for", str(out))
    if not out.exists():
        return False
    entries = [e.name for e in out.iterdir() if not _TEMP_RE.match(e.name)]
    if not entries:
        return True
    if not is_shard_folder(out):
        raise VentgenValueError(f"{out}: not a ventgen shard folder (no {INDEX_NAME} of ventgen); "
                                "refusing to replace it")
    listed = {INDEX_NAME, *(s["file"] for s in read_shard_index(out)["shards"])}
    foreign = sorted(set(entries) - listed)
    if foreign:
        raise VentgenValueError(f"{out}: holds files that are not its shards ({', '.join(foreign[:3])}"
                                + (" ..." if len(foreign) > 3 else "") + "); refusing to replace it")
    if not overwrite:
        raise FileExistsError(17, "shard folder exists; pass overwrite=True (or --overwrite) to replace it",
                              str(out))
    return True


def _plan(inputs, breath_labels, label_hierarchy) -> tuple[list, dict]:
    """The recording files of ``inputs`` (folders expanded, in order) and their breath-label tables."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    paths = [Path(p) for p in inputs]
    if not paths:
        raise VentgenValueError("segment_shards: no input file given")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(2, "No such file or directory", str(p))
    paths, labels = breath_label_tables(paths, breath_labels, label_hierarchy)
    for p in labels:
        if p.is_dir():
            raise VentgenValueError(f"{p}: a breath-label table labels one recording file, not a folder; "
                                    "give one table per file")
    files = [f for p in paths for f in (_recording_files(p) if p.is_dir() else [p])]
    if not files:
        raise VentgenValueError(f"segment_shards: no recording file in {', '.join(map(str, paths[:3]))}")
    return files, labels


def segment_shards(inputs, output_dir, method: str = "auto", *, length: int = 200, cycle_rate: float = 25.0,
                   long_policy: str = "drop", overwrite: bool = False, read_kwargs: dict | None = None,
                   segment_kwargs: dict | None = None, progress_bar: bool | None = None, breath_labels=None,
                   label_hierarchy=None, workers: int | None = 0, scheduler: str | None = None) -> dict:
    """Segment recording files into a shard folder: one CycleSet file per recording file plus ``index.json``.

    Parameters
    ----------
    inputs, method, length, cycle_rate, long_policy, read_kwargs, segment_kwargs, breath_labels, label_hierarchy
        As in :func:`ventgen.workflows.segment_files`; folders are expanded into their recording
        files, one task (and one shard) each.
    output_dir : path
        The shard folder (see :func:`_output_folder_replace` for what may be replaced).
    workers : int, optional
        ``0`` or ``None``: in this process, one file after the other. ``N >= 1``: a local Dask
        cluster of N single-threaded worker processes (needs ``pip install 'ventgen[distributed]'``).
    scheduler : str, optional
        Address of a running Dask scheduler (its workers must import ventgen and see the same files).
    progress_bar : bool, optional
        One bar over the files (see :func:`ventgen.set_progress`).

    Returns
    -------
    dict
        ``n_files``, ``n_shards``, ``n_recordings``, ``n_breaths``, ``n_cycles``, ``n_labelled``,
        ``failed`` (``[(source, error line)]``), ``output`` and ``index``.

    Examples
    --------
    >>> import os, tempfile
    >>> from ventgen import simulate_cohort, write_recording
    >>> d = tempfile.mkdtemp()
    >>> for rec in simulate_cohort(2, minutes=0.5, random_state=0, progress=False):
    ...     write_recording(rec, os.path.join(d, rec.subject + ".h5"))
    >>> out = segment_shards([d], os.path.join(d, "cycles"), progress_bar=False)
    >>> out["n_shards"], sorted(os.listdir(out["output"]))
    (2, ['index.json', 'sim-01.h5', 'sim-02.h5'])
    """
    check_workers(workers, scheduler)
    length, cycle_rate = check_cycle_args(length, cycle_rate, long_policy, "segment_shards")
    files, labels = _plan(inputs, breath_labels, label_hierarchy)
    out = Path(output_dir)
    if out.suffix.lower() in (".h5", ".hdf5") and not out.is_dir():
        raise VentgenValueError(f"{out}: names a CycleSet file, but a shard folder is written (shards, workers "
                                "or scheduler given); name a folder, e.g. cycles/")
    replace = _output_folder_replace(out, overwrite)
    params = {"method": method, "length": length, "cycle_rate": cycle_rate, "long_policy": long_policy,
              "read_kwargs": dict(read_kwargs or {}), "segment_kwargs": dict(segment_kwargs or {})}
    runner = runner_for(workers, scheduler)
    with runner, atomic_dir(out, replace=replace) as tmp:
        tasks = [{"source": str(f), "path": str(f.resolve()), "target": str(Path(tmp).resolve() / name),
                  "params": params, "labels": labels.get(f)} for f, name in zip(files, shard_names(files), strict=True)]
        results = runner.run(segment_one_file, tasks, progress_bar, desc="segment", unit="file")
        summary = _finish(tmp, files, results, params)
    return {**summary, "output": str(out), "index": str(out / INDEX_NAME)}


def _finish(folder: Path, files: list, results: list, params: dict) -> dict:
    """Re-emit the tasks' warnings, warn about each failed file, write the index; counts as a dict."""
    for res in results:
        for category, message in res["warnings"]:
            cls = getattr(_errors, category, None)
            cls = cls if isinstance(cls, type) and issubclass(cls, Warning) else VentgenWarning
            warnings.warn(message if res["source"] in message else f"{res['source']}: {message}", cls, stacklevel=3)
    failed = [(r["source"], r["error"]) for r in results if not r["ok"]]
    for source, error in failed:
        warnings.warn(f"skipped {error}" if error.startswith(source) else f"skipped {source}: {error}",
                      VentgenWarning, stacklevel=3)
    entries = [r["entry"] for r in results if r["ok"]]
    shown = ", ".join(str(p) for p in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    if not entries:
        raise VentgenValueError(f"segment_shards: none of the {len(files)} file(s) could be segmented "
                                f"({shown}; see the warnings); nothing written")
    counts = {k: sum(e[k] for e in entries) for k in ("n_recordings", "n_breaths", "n_cycles", "n_labelled")}
    if counts["n_cycles"] == 0:
        raise VentgenValueError(f"segment_shards: no breath cycle found in the {len(entries)} file(s) of {shown} "
                                f"({counts['n_breaths']} breath(s) found; see the warnings); nothing written")
    write_shard_index(folder, entries, params, [{"source": s, "error": e} for s, e in failed])
    return {"n_files": len(files), "n_shards": len(entries), **counts, "failed": failed}


def segment_one_file(task: dict) -> dict:
    """Segment one recording file and write its shard (the task a worker runs).

    ``task``: ``source`` (the path as given, for messages and the index), ``path`` (absolute),
    ``target`` (the shard file to write), ``params`` and ``labels`` (a BreathLabels or None).
    Returns a small summary: ``ok``, ``source``, ``entry`` (the index entry) or ``error`` (one
    line), and ``warnings`` (``[(category name, message)]``). Never raises for a bad file.
    """
    source, target, p = task["source"], Path(task["target"]), task["params"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            recs = read_recordings(task["path"], **p["read_kwargs"])
            if not recs:
                raise VentgenValueError(f"{source}: holds no recording")
            if task["labels"] is not None:
                if len(recs) != 1:
                    raise VentgenValueError(f"{task['labels'].source}: a breath-label table labels one "
                                            f"recording; {source} holds {len(recs)}")
                recs = [apply_breath_labels(recs[0], task["labels"])[0]]
            pairs = [recording_cycles(rec, k, p["method"], p["length"], p["cycle_rate"], p["long_policy"],
                                      p["segment_kwargs"]) for k, rec in enumerate(recs)]
            cs = CycleSet.concatenate([c for c, _ in pairs])
            write_cycleset_file(cs, target)
            entry = shard_entry(target.name, source, target, n_recordings=len(recs),
                                n_breaths=sum(len(t) for _, t in pairs), n_cycles=len(cs),
                                n_labelled=int((cs.labels != "").sum()),
                                breath_labels=None if task["labels"] is None else task["labels"].source)
            out = {"ok": True, "entry": entry}
        except Exception as exc:  # noqa: BLE001 - a bad file is reported and skipped, never fatal
            target.unlink(missing_ok=True)
            out = {"ok": False, "error": _error_line(exc, source, task["path"])}
    messages = [(w.category.__name__, str(w.message).replace(task["path"], source)) for w in caught]
    return {**out, "source": source, "warnings": messages}


def _error_line(exc: BaseException, source: str, path: str) -> str:
    """One line for an error met on ``source`` (named once, as the user gave it)."""
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename or source}: {exc.strerror}"
    elif isinstance(exc, MemoryError):
        text = "out of memory (MemoryError) while segmenting this file"
    else:
        first = (str(exc).splitlines() or [""])[0][:300]
        text = first if isinstance(exc, VentgenError) else f"{type(exc).__name__}: {first}"
    text = hide_temporary_names(text.replace(path, source))
    return text if source in text else f"{source}: {text}"
