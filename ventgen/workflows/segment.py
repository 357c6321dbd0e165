"""Simulate and segment recording files: the steps behind ``ventgen simulate`` and ``ventgen segment``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._core import atomic_paths, progress
from ..errors import VentgenTypeError, VentgenValueError
from ..io.cycleset import write_breath_table, write_cycleset_file
from ..io.labels import BreathLabels, apply_breath_labels, read_breath_labels
from ..io.recordings import _recording_files, read_recordings, write_recording_files
from ..signals.cycles import CycleSet, check_cycle_args, recording_cycles
from ..signals.recording import Recording
from ..signals.simulate import simulate_cohort
from ..signals.simulate.api import check_simulation_args, check_subjects, subject_id

__all__ = ["write_simulated_cohort", "cycles_from_recordings", "segment_files", "breath_label_tables"]


def write_simulated_cohort(output_dir, n_subjects: int = 3, minutes: float = 60.0, sampling_rate: float = 50.0,
                           random_state=0, format: str = "hdf5", overwrite: bool = False,
                           progress: bool | None = None, **kwargs) -> list:
    """Simulate a cohort and write one file per subject (``<subject>.h5`` or ``<subject>.csv``).

    Parameters
    ----------
    output_dir : str or path-like
        Folder (created). Existing files are never replaced unless ``overwrite``.
    n_subjects, minutes, sampling_rate, random_state, progress, **kwargs
        As in :func:`simulate_cohort`.
    format : {"hdf5", "csv"}
        File format, written by :func:`ventgen.write_recording`.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of Path
        The files written, one per subject: written as one set, all or none (a failure or a kill
        leaves none of them; every target is checked before the simulation starts).

    Examples
    --------
    >>> import tempfile
    >>> paths = write_simulated_cohort(tempfile.mkdtemp(), n_subjects=1, minutes=0.5, progress=False)
    >>> [p.name for p in paths]
    ['sim-01.h5']
    """
    fmts = {"hdf5": ".h5", "csv": ".csv"}
    if format not in fmts:
        raise VentgenValueError(f"format must be one of {list(fmts)}, got {format!r}")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise VentgenValueError(f"{out}: exists and is not a folder")
    check_simulation_args(minutes, sampling_rate, kwargs.get("mode", "psv"), kwargs.get("interface", "mask"))
    n_subjects = check_subjects(n_subjects, minutes)
    targets = [out / f"{subject_id(i)}{fmts[format]}" for i in range(n_subjects)]
    if not overwrite:  # every file the set may hold, before the work starts
        side = (".meta.json", ".annotations.csv", ".markers.csv") if format == "csv" else ()
        for t in targets:
            for c in [t, *(t.with_name(t.stem + sfx) for sfx in side)]:
                if c.exists():
                    raise FileExistsError(17, "exists; pass overwrite=True (or --overwrite) to replace it", str(c))
    recs = simulate_cohort(n_subjects, minutes, sampling_rate, random_state, progress=progress, **kwargs)
    # one atomic set: a failure or a kill leaves none of the files (and a re-run starts normally)
    return write_recording_files(recs, targets, format, overwrite=overwrite)


def cycles_from_recordings(
    sources,
    method: str = "auto",
    length: int = 200,
    cycle_rate: float = 25.0,
    long_policy: str = "drop",
    *,
    progress_bar: bool | None = None,
    read_kwargs: dict | None = None,
    segment_kwargs: dict | None = None,
) -> tuple[CycleSet, pd.DataFrame]:
    """Segment many recordings (Recording objects or file paths) into one CycleSet.

    Returns the CycleSet and the full breath table of all recordings (with ``subject`` and
    ``recording`` columns, the index of the source). Shows a progress bar (see
    :func:`ventgen.set_progress`).

    Examples
    --------
    >>> import numpy as np
    >>> from ventgen import Recording
    >>> t = np.arange(0, 12, 0.02)
    >>> ph = t % 4
    >>> flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    >>> rec = Recording(flow=flow, pressure=5 + 10 * (ph < 1.2), sampling_rate=50, subject="a")
    >>> cs, table = cycles_from_recordings([rec, rec], method="flow", progress_bar=False)
    >>> len(cs), len(table)
    (6, 6)
    """
    sets, tables = _segment_sources(sources, method, length, cycle_rate, long_policy, progress_bar=progress_bar,
                                    read_kwargs=read_kwargs, segment_kwargs=segment_kwargs)
    if not sets:
        raise VentgenValueError("cycles_from_recordings: no recording given")
    return CycleSet.concatenate(sets), pd.concat(tables, ignore_index=True)


def _segment_sources(sources, method, length, cycle_rate, long_policy, *, progress_bar, read_kwargs,
                     segment_kwargs, labels: dict | None = None) -> tuple[list, list]:
    """One CycleSet and one breath table per recording of ``sources`` (Recordings or paths); the
    recordings of a path in ``labels`` get its breath labels first (:func:`apply_breath_labels`)."""
    if isinstance(sources, (str, Path, Recording)):
        sources = [sources]
    items = []
    for src in sources:
        if isinstance(src, Recording):
            items.append(src)
        elif isinstance(src, (str, Path)):
            items.append(Path(src))
        else:
            raise VentgenTypeError(f"cycles_from_recordings: expected Recordings or paths, got {type(src).__name__}")
    length, cycle_rate = check_cycle_args(length, cycle_rate, long_policy, "cycles_from_recordings")
    sets, tables = [], []
    k = 0
    for item in progress(items, enabled=progress_bar, desc="segment", unit="file"):
        recs = read_recordings(item, **(read_kwargs or {})) if isinstance(item, Path) else [item]
        if labels and isinstance(item, Path) and item in labels:
            if len(recs) != 1:
                raise VentgenValueError(f"{labels[item].source}: a breath-label table labels one recording; "
                                        f"{item} holds {len(recs)}")
            recs = [apply_breath_labels(recs[0], labels[item])[0]]
        for rec in recs:
            cs, t = recording_cycles(rec, k, method, length, cycle_rate, long_policy, segment_kwargs)
            tables.append(t)
            sets.append(cs)
            k += 1
    return sets, tables


def segment_files(
    inputs,
    output,
    method: str = "auto",
    *,
    breaths_csv=None,
    length: int = 200,
    cycle_rate: float = 25.0,
    long_policy: str = "drop",
    overwrite: bool = False,
    read_kwargs: dict | None = None,
    segment_kwargs: dict | None = None,
    progress_bar: bool | None = None,
    breath_labels=None,
    label_hierarchy=None,
) -> dict:
    """Segment recording files into one CycleSet file (and optionally the breath table as CSV).

    The library side of ``ventgen segment``. ``inputs`` are recording files or folders (every format
    :func:`ventgen.read_recordings` reads); the CycleSet is written to ``output`` (HDF5) and the breath
    table of every recording, with ``recording`` and ``subject`` columns, to ``breaths_csv``.
    The two files are one atomic set: every target is checked before the work starts (an existing one
    is refused unless ``overwrite``), both are renamed into place only when both were written, and a
    failure or a kill leaves neither (a re-run removes what a killed run left). Arguments are checked
    before any file is read: ``length`` in [2, MAX_CYCLE_LENGTH], ``cycle_rate`` by the one rule of
    sampling rates; finding no breath cycle at all is an error, not an empty file.

    ``breath_labels`` labels the breaths from breath-label tables (see :func:`breath_label_tables`
    and :func:`ventgen.read_breath_labels`), read and checked before any recording is read;
    ``label_hierarchy`` (a JSON file or a LabelTree) gives their super-classes.

    Returns
    -------
    dict
        ``n_recordings``, ``n_breaths``, ``n_cycles``, ``n_labelled`` (cycles with a label),
        ``output`` and ``breaths_csv``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording
    >>> t = np.arange(0, 12, 0.02)
    >>> ph = t % 4
    >>> flow = np.where(ph < 1.2, 40 * np.sin(np.pi * ph / 1.2), -15 * np.exp(-(ph - 1.2) / 0.5))
    >>> d = tempfile.mkdtemp()
    >>> write_recording(Recording(flow, 5 + 10 * (ph < 1.2), 50, subject="a"), os.path.join(d, "a.csv"))
    >>> segment_files([os.path.join(d, "a.csv")], os.path.join(d, "c.h5"), progress_bar=False)["n_cycles"]
    3
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    paths = [Path(p) for p in inputs]
    if not paths:
        raise VentgenValueError("segment_files: no input file given")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(2, "No such file or directory", str(p))
    length, cycle_rate = check_cycle_args(length, cycle_rate, long_policy, "segment_files")
    paths, labels = breath_label_tables(paths, breath_labels, label_hierarchy)
    output = Path(output)
    targets = [output] + ([Path(breaths_csv)] if breaths_csv is not None else [])
    shown = ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    # both files are written as one set: checked before the work, renamed together, none left by a kill
    with atomic_paths(targets, overwrite=overwrite) as tmps:
        sets, tables = _segment_sources(paths, method, length, cycle_rate, long_policy, progress_bar=progress_bar,
                                        read_kwargs=read_kwargs, segment_kwargs=segment_kwargs, labels=labels)
        if not sets:
            raise VentgenValueError(f"segment_files: no recording found in {shown}; nothing written")
        cs, table = CycleSet.concatenate(sets), pd.concat(tables, ignore_index=True)
        if len(cs) == 0:
            raise VentgenValueError(
                f"segment_files: no breath cycle found in the {len(sets)} recording(s) of {shown} "
                f"({len(table)} breath(s) found; see the warnings); nothing written"
            )
        write_cycleset_file(cs, tmps[0])
        if breaths_csv is not None:
            write_breath_table(table, tmps[1])
    return {
        "n_recordings": len(sets),
        "n_breaths": len(table),
        "n_cycles": len(cs),
        "n_labelled": int((cs.labels != "").sum()),
        "output": str(output),
        "breaths_csv": None if breaths_csv is None else str(breaths_csv),
    }


def breath_label_tables(paths: list, breath_labels, label_hierarchy=None) -> tuple[list, dict]:
    """Read the breath-label tables of recording files (before any recording is read).

    Parameters
    ----------
    paths : list of Path
        The recording files or folders to segment.
    breath_labels : None, path, BreathLabels, sequence, mapping or str
        One table for a single input file; a sequence of tables, one per input (``None`` = none);
        a mapping ``{input path: table}``; or a side-file suffix starting with ``"."`` (e.g.
        ``".modes.csv"``): the table ``<stem><suffix>`` beside each recording file, where it exists
        (folders are expanded, and files ending with the suffix are not taken as recordings).
    label_hierarchy : path, mapping or LabelTree, optional
        See :func:`ventgen.read_breath_labels`.

    Returns
    -------
    (list of Path, dict)
        The inputs (folders expanded for a suffix) and ``{recording path: BreathLabels}``.
    """
    if breath_labels is None:
        return paths, {}
    if isinstance(breath_labels, str) and breath_labels.startswith(".") and not Path(breath_labels).is_file():
        files = [f for p in paths for f in (_recording_files(p) if p.is_dir() else [p])
                 if not f.name.endswith(breath_labels)]
        pairs = [(f, f.with_name(f.name[: -len(f.suffix)] + breath_labels)) for f in files]
        pairs = [(f, t) for f, t in pairs if t.is_file()]
        if not pairs:
            raise VentgenValueError(f"no breath-label table '<stem>{breath_labels}' beside the input files")
        return files, _read_tables(pairs, label_hierarchy)
    if isinstance(breath_labels, dict):
        pairs = [(Path(k), v) for k, v in breath_labels.items()]
    elif isinstance(breath_labels, (str, Path, BreathLabels, pd.DataFrame)):
        if len(paths) != 1 or paths[0].is_dir():
            raise VentgenValueError(f"one breath-label table for {len(paths)} input(s); give one table per "
                                    "input file, or a side-file suffix such as '.modes.csv'")
        pairs = [(paths[0], breath_labels)]
    else:
        tables = list(breath_labels)
        if len(tables) != len(paths):
            raise VentgenValueError(f"{len(tables)} breath-label table(s) for {len(paths)} input file(s); "
                                    "give one per input, in order")
        pairs = [(p, t) for p, t in zip(paths, tables, strict=True) if t is not None]
    return paths, _read_tables(pairs, label_hierarchy)


def _read_tables(pairs, label_hierarchy) -> dict:
    out = {}
    for rec_path, table in pairs:
        out[Path(rec_path)] = table if isinstance(table, BreathLabels) else read_breath_labels(
            table, hierarchy=label_hierarchy)
    return out
