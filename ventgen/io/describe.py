"""Describe the files ventgen reads and writes (what ``ventgen info`` prints).

Recordings: one row per recording (:func:`describe_file`, :func:`describe_files`). CycleSets, model
files and cohort folders: one block of facts each (:func:`describe_path`); :func:`file_kind` tells
them apart. Model files are read with :func:`ventgen.io.checkpoint.read_checkpoint`
(``weights_only=True``: nothing is unpickled).
"""

from __future__ import annotations

import json
from collections import Counter

import h5py
import numpy as np
import pandas as pd

from .._core import read_json_document
from ..errors import FileFormatError, VentgenError, VentgenValueError
from ._common import FORMATS, _check_format, _path
from .cycleset import _FORMAT as _CYCLESET_FORMAT
from .hdf5 import _HDF5_MAGIC, read_hdf5_all
from .recordings import _recording_files, detect_format, read_recording
from .shards import is_shard_folder, read_cycles

__all__ = ["describe_file", "describe_files", "describe_path", "describe_paths", "file_kind"]

#: What :func:`file_kind` tells apart.
FILE_KINDS = ("recording", "cycleset", "model", "cohort")
_ZIP_MAGIC = b"PK\x03\x04"  # model files are zip archives


def describe_file(path, format=None) -> pd.DataFrame:
    """Summarise a recording file: one row per recording it holds.

    Columns: ``file``, ``format``, ``recording`` (name inside the file), ``subject``, ``duration_s``,
    ``sampling_rate``, ``n_samples``, ``channels``, ``n_markers``, ``n_annotations``, ``n_nan``.
    Signals are read with ``nan_policy="keep"`` so that gaps are counted, not refused.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording, describe_file
    >>> p = os.path.join(tempfile.mkdtemp(), "r.h5")
    >>> write_recording(Recording(flow=np.zeros(100), pressure=np.ones(100), sampling_rate=50), p)
    >>> describe_file(p)[["format", "n_samples", "duration_s"]].to_dict("records")
    [{'format': 'hdf5', 'n_samples': 100, 'duration_s': 2.0}]
    """
    path = _path(path)
    fmt = _check_format(format, FORMATS) or detect_format(path)
    if fmt == "hdf5":
        named = read_hdf5_all(path, nan_policy="keep", with_names=True)
    else:
        named = [("", read_recording(path, format=fmt, nan_policy="keep"))]
    rows = []
    for name, r in named:
        rows.append({
            "file": str(path),
            "format": fmt,
            "recording": name,
            "subject": r.subject,
            "duration_s": float(r.duration_s),
            "sampling_rate": float(r.sampling_rate),
            "n_samples": int(r.n_samples),
            "channels": ",".join(r.channels),
            "n_markers": int(r.n_markers),
            "n_annotations": int(len(r.annotations)),
            "n_nan": int(r.n_nan),
        })
    return pd.DataFrame(rows)


def describe_files(paths, format=None, *, errors: str = "raise") -> pd.DataFrame:
    """:func:`describe_file` for many files, one table (what ``ventgen info`` prints).

    Parameters
    ----------
    paths : iterable of path-like
        Files, or folders (each of their recording files is described).
    format : str, optional
        Force one format for every file.
    errors : {"raise", "collect"}
        ``"collect"`` keeps going when a file cannot be read and puts the one-line message in an
        ``error`` column of that file's row (other columns empty).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import Recording, write_recording, describe_files
    >>> d = tempfile.mkdtemp()
    >>> write_recording(Recording(flow=np.zeros(100), pressure=np.ones(100), sampling_rate=50), os.path.join(d, "a.h5"))
    >>> t = describe_files([os.path.join(d, "a.h5"), os.path.join(d, "nope.csv")], errors="collect")
    >>> [e.endswith("nope.csv: No such file or directory") for e in t["error"]]
    [False, True]
    """
    if errors not in ("raise", "collect"):
        raise VentgenValueError(f"errors must be 'raise' or 'collect', got {errors!r}")
    expanded = []
    for p in paths:
        p = _path(p)
        expanded.extend(_recording_files(p) if p.is_dir() else [p])
    frames = []
    for p in expanded:
        try:
            df = describe_file(p, format=format)
            df["error"] = ""
        except Exception as exc:  # noqa: BLE001 - collected as one line per file (or re-raised)
            if errors == "raise":
                raise
            df = pd.DataFrame([{"file": str(p), "error": _one_line_error(p, exc)}])
        frames.append(df)
    if not frames:
        raise VentgenValueError("describe_files: no files given")
    out = pd.concat(frames, ignore_index=True)
    for c in ("n_samples", "n_markers", "n_annotations", "n_nan"):
        if c in out.columns:
            out[c] = out[c].astype("Int64")
    return out


def _one_line_error(path, exc: BaseException) -> str:
    """The one-line message of an error met while reading ``path`` (for :func:`describe_files`)."""
    if isinstance(exc, VentgenError):
        return str(exc).splitlines()[0] if str(exc) else f"{path}: {type(exc).__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{getattr(exc, 'filename', None) or path}: {exc.strerror}"
    if isinstance(exc, MemoryError):
        return f"{path}: not enough memory to read this file"
    text = (str(exc).splitlines() or [""])[0][:200]
    return f"{path}: cannot read this file ({type(exc).__name__}: {text})"


# ----------------------------------------------------------------------------- every kind of file
def file_kind(path) -> str:
    """``"cohort"`` (a folder with ``cohort.json``), ``"model"`` (a model file, ``.pt``), ``"cycleset"``
    (an HDF5 file with a CycleSet manifest) or ``"recording"`` (anything else).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from ventgen import CycleSet, write_cycleset
    >>> p = os.path.join(tempfile.mkdtemp(), "c.h5")
    >>> _ = write_cycleset(CycleSet(np.zeros((2, 2, 8)), [8, 8], 25), p)
    >>> file_kind(p)
    'cycleset'
    """
    path = _path(path)
    if path.is_dir():
        if (path / "cohort.json").is_file():
            return "cohort"
        return "cycleset" if is_shard_folder(path) else "recording"
    if not path.is_file():
        return "recording"  # the recording reader says what is wrong
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_ZIP_MAGIC) or path.suffix.lower() == ".pt":
        return "model"
    if head.startswith(_HDF5_MAGIC):
        try:
            with h5py.File(path, "r") as h:
                raw = h.attrs.get("manifest")
            raw = bytes(raw).decode("utf-8", "replace") if isinstance(raw, (bytes, np.bytes_)) else raw
            if isinstance(raw, str) and _CYCLESET_FORMAT in raw[:200]:
                return "cycleset"
        except (OSError, ValueError):
            pass
    return "recording"


def _counts(values) -> str:
    c = Counter(str(v) for v in values if str(v) != "")
    return ", ".join(f"{k}={v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def describe_cycleset(path) -> dict:
    """Facts of a CycleSet file or shard folder: cycles, labels and their counts, subjects, rate, length."""
    cs = read_cycles(path)
    subj = np.unique(cs.subjects)
    secs = cs.lengths / cs.sampling_rate
    return {
        "kind": "cycleset", "n_cycles": len(cs), "length": cs.length, "sampling_rate": cs.sampling_rate,
        "channels": ",".join(cs.channels), "n_subjects": int(subj.size),
        "subjects": ", ".join(subj[:5].tolist()) + (f" and {subj.size - 5} more" if subj.size > 5 else ""),
        "breath_s": f"median {np.median(secs):.2f}, range {secs.min():.2f}-{secs.max():.2f}" if len(cs) else "",
        "n_labelled": int((cs.labels != "").sum()), "labels": _counts(cs.labels),
        "superclasses": _counts(cs.superclasses),
    }


def describe_model(path) -> dict:
    """Facts of a model file: preset, maps, epochs, training data (n_samples, input shape), labels."""
    # the tensor library is imported on first use: import ventgen stays light
    from .checkpoint import read_checkpoint

    ck = read_checkpoint(path)
    if not isinstance(ck, dict) or "params" not in ck:
        raise FileFormatError(path, "not a ventgen model file (no 'params')")
    p = ck["params"] if isinstance(ck["params"], dict) else {}
    hist = ck.get("history") if isinstance(ck.get("history"), list) else []
    gen = ck.get("generation") if isinstance(ck.get("generation"), dict) else None
    out = {
        "kind": "model", "format": f"{ck.get('format', '?')} v{ck.get('format_version', '?')}",
        "ventgen_version": ck.get("ventgen_version", ""), "preset": p.get("preset", "paper"),
        "maps": ", ".join("x".join(str(v) for v in m) if isinstance(m, (list, tuple)) else str(m)
                          for m in (p.get("maps") or [])),
        "latent_dim": p.get("latent_dim", ""),
        "epochs_trained": len(hist), "n_samples": ck.get("n_samples", ""),
        "input_shape": "x".join(str(s) for s in ck.get("input_shape", [])),
        "data_sha256": str(ck.get("data_sha256") or "")[:16],
        "generation_state": "stored" if gen is not None else "not stored (generate needs --reference)",
        "generator": _generator_fact(ck.get("generator"), p),
    }
    if gen is not None:
        out.update(_generation_facts(gen))
    return out


def _generator_fact(g, params: dict) -> str:
    """One line on the flow generator a model file holds (or why it holds none)."""
    if not isinstance(g, dict):
        return "none (breaths are the decoder's means)" if params.get("generator", "none") == "none" else \
            "not trained yet (a checkpoint of the HTVAE's epochs)"
    hist = g.get("history") if isinstance(g.get("history"), list) else []
    loss = hist[-1].get("loss") if hist and isinstance(hist[-1], dict) else None
    steps = params.get("generator_steps", "?")
    return (f"flow matching, width {params.get('generator_width', '?')}, {len(hist)} epochs ({steps} steps asked)"
            + (f", last loss {loss:.4g}" if isinstance(loss, float) else "")
            + f", samples with {params.get('generator_sample_steps', '?')} midpoint steps"
            + (f" (time grid power {params['generator_time_power']})" if "generator_time_power" in params else ""))


def _generation_facts(gen: dict) -> dict:
    """Label table and label tree of the generation data stored in a model file."""
    out = {}
    lab = gen.get("labels")
    if isinstance(lab, dict) and "names" in lab and "codes" in lab:
        codes = lab["codes"]
        codes = np.asarray(codes.numpy() if hasattr(codes, "numpy") else codes).astype(np.int64).ravel()
        names = [str(v) for v in lab["names"]]
        ok = (codes >= 0) & (codes < len(names))
        out["training_labels"] = _counts(np.asarray(names, dtype=object)[codes[ok]]) if len(names) else "none"
    tree = gen.get("label_tree")
    if isinstance(tree, dict) and isinstance(tree.get("paths"), dict):
        groups: dict = {}
        for c, path in tree["paths"].items():
            groups.setdefault(str(path[0]) if path else "(root)", []).append(str(c))
        out["label_tree"] = "; ".join(f"{g}: {', '.join(cs)}" for g, cs in groups.items())
    return out


def _short(v, limit: int = 300) -> str:
    try:
        text = json.dumps(v, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    except (TypeError, ValueError):
        text = str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_cohort(folder) -> dict:
    """Facts of a cohort folder (``cohort.json`` and ``manifest.csv``): patients, breaths, composition."""
    folder = _path(folder)
    doc = read_json_document(folder / "cohort.json", "cohort.json")
    if not isinstance(doc, dict):
        raise FileFormatError(folder / "cohort.json", "expected a JSON object")
    out = {"kind": "cohort", "format": doc.get("format", ""), "n_patients": len(doc.get("files", []))}
    man_path = folder / "manifest.csv"
    if man_path.is_file():
        try:
            man = pd.read_csv(man_path, usecols=lambda c: c in ("patient", "label", "end_s", "start_s"))
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise FileFormatError(man_path, f"unreadable manifest ({type(exc).__name__})") from None
        out["n_breaths"] = len(man)
        if {"start_s", "end_s"} <= set(man.columns) and len(man):
            out["minutes"] = round(float((man["end_s"] - man["start_s"]).sum()) / 60, 2)
        if "label" in man.columns:
            out["composition"] = _counts(man["label"].fillna(""))
    comp = doc.get("composition")
    if isinstance(comp, list) and comp and "composition" not in out:
        out["composition"] = _short(comp)
    return out


def describe_path(path) -> pd.DataFrame | dict:
    """Describe any file ventgen writes: a table of recordings (:func:`describe_file`), or the facts of
    a CycleSet, a model file or a cohort folder (a dict with ``kind``)."""
    kind = file_kind(path)
    if kind == "cycleset":
        return describe_cycleset(path)
    if kind == "model":
        return describe_model(path)
    if kind == "cohort":
        return describe_cohort(path)
    return describe_file(path)


def describe_paths(paths, format=None) -> tuple[pd.DataFrame | None, list[tuple[str, dict]], list[str]]:
    """What ``ventgen info`` prints: (recordings table, [(file, facts)] of other files, [one-line errors]).

    Folders that are not cohort folders are expanded into their files; a file that cannot be read
    gives one error line and the others are still described.
    """
    expanded = []
    for p in paths:
        p = _path(p)
        expanded.extend(_recording_files(p) if p.is_dir() and file_kind(p) not in ("cohort", "cycleset") else [p])
    tables, blocks, errors = [], [], []
    for p in expanded:
        try:
            d = describe_file(p, format=format) if format else describe_path(p)
        except Exception as exc:  # noqa: BLE001 - one line per bad file, the others still listed
            errors.append(_one_line_error(p, exc))
            continue
        if isinstance(d, pd.DataFrame):
            tables.append(d)
        else:
            blocks.append((str(p), d))
    table = pd.concat(tables, ignore_index=True) if tables else None
    return table, blocks, errors
