"""The folder of a fidelity report (``ventgen evaluate-cohort -o``): checked, written as one set, read back.

A fidelity folder holds ``fidelity.json``, ``ks.csv``, ``composition.csv``, ``synthetic_breaths.csv``,
one ``ks_<column>.png`` per compared column and ``breaths_real_vs_generated.png`` (a few real and
generated breaths of every class, side by side). It is only ever replaced when it holds a fidelity
report ventgen wrote; no other file is touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .._core import atomic_paths, read_json_document
from ..errors import VentgenValueError

__all__ = ["check_fidelity_folder", "fidelity_targets", "write_fidelity_folder", "read_fidelity_folder",
           "FIDELITY_FILES", "BREATHS_FIGURE"]

#: The figure of real and generated breaths side by side, per class.
BREATHS_FIGURE = "breaths_real_vs_generated.png"
#: Files a fidelity report folder holds (besides one ``ks_<column>.png`` per compared column).
FIDELITY_FILES = ("fidelity.json", "ks.csv", "composition.csv", "synthetic_breaths.csv", BREATHS_FIGURE)


def _is_fidelity_report(path: Path) -> bool:
    """Whether ``path`` is a readable fidelity.json that ventgen wrote (an object with its summary)."""

    try:
        doc = read_json_document(path, "fidelity report")
    except (VentgenValueError, OSError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("summary"), dict) and "ks" in doc


def check_fidelity_folder(out: Path, targets, *, overwrite: bool, inputs=()) -> None:
    """Refuse a report folder where writing ``targets`` could lose a file ventgen did not write.

    Existing targets are replaced only with ``overwrite`` and only when the folder holds a fidelity
    report ventgen wrote; no input (cohort folder, real cycles, model) is a target, and the report does
    not go into the cohort folder itself. Runs before the (slow) evaluation and again before writing.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(17, "exists and is not a folder; expected the report folder", str(out))
    real = out.resolve()
    hit = {t.resolve() for t in targets}
    for inp in inputs:
        if Path(inp).resolve() == real:
            raise VentgenValueError(f"{out}: this is the input folder itself; write the fidelity report to another "
                                    "folder")
        if Path(inp).resolve() in hit:
            raise VentgenValueError(f"{out}: the fidelity report would be written over the input {inp}; choose "
                                    "another output folder")
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if not existing:
        return
    names = ", ".join(t.name for t in existing[:3]) + (" ..." if len(existing) > 3 else "")
    if not overwrite:
        raise FileExistsError(17, f"a fidelity report is already there ({names}); pass overwrite=True (or "
                                  "--overwrite) to replace it", str(out))
    if not _is_fidelity_report(out / "fidelity.json") or any(t.is_dir() for t in existing):
        raise VentgenValueError(f"{out}: not replaced: it holds {names}, but not as part of a fidelity report "
                                "ventgen wrote (a readable fidelity.json); --overwrite only replaces such a report; "
                                "move them or choose another folder")


def fidelity_targets(out: Path, columns) -> list:
    """Every file a fidelity report of ``columns`` writes into ``out``."""
    return [out / n for n in FIDELITY_FILES] + [out / f"ks_{c}.png" for c in columns]


def write_fidelity_folder(out: Path, tables, figures: dict, *, overwrite: bool, inputs=()) -> None:
    """Write ``tables`` (``(file name, writer(path))`` pairs) and ``figures`` (``{file name: Figure}``,
    saved as PNG) into ``out`` as one set: all files are checked first, and all appear only when every
    one is written."""
    bad = [name for name in figures if Path(name).name != name or not name.endswith(".png")]
    if bad:
        raise VentgenValueError(f"write_fidelity_folder: figure names must be plain .png file names, got {bad}")
    targets = [out / name for name, _ in tables] + [out / name for name in figures]
    check_fidelity_folder(out, targets, overwrite=overwrite, inputs=inputs)
    with atomic_paths(targets, overwrite=overwrite) as tmps:
        for (_, write), tmp in zip(tables, tmps, strict=False):
            write(tmp)
        for fig, tmp in zip(figures.values(), tmps[len(tables):], strict=True):
            fig.savefig(tmp, dpi=90, format="png")


def read_fidelity_folder(path: Path) -> dict:
    """The tables and numbers ``evaluate_cohort`` wrote in a folder, as a fidelity mapping: the
    ``fidelity.json`` groups and numbers, the ``ks``, ``composition`` and ``synthetic_breaths`` tables and
    the ``figures`` (paths of the PNG files)."""
    doc_path = path / "fidelity.json"
    if not doc_path.is_file():
        raise VentgenValueError(f"{path}: not a fidelity folder (no fidelity.json)")
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise VentgenValueError(f"{doc_path}: cannot read JSON: {exc}") from None
    out: dict = {k: v for k, v in doc.items() if isinstance(v, Mapping) or _is_num(v)}
    for name in ("ks", "composition", "synthetic_breaths"):
        csv = path / f"{name}.csv"
        if csv.is_file():
            out[name] = pd.read_csv(csv)
    out["figures"] = sorted(path.glob("*.png"))
    return out


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
