"""The cohort folder that generation writes (the spec file: :mod:`ventgen.io.cohort_spec`).

A cohort folder holds one recording per virtual patient (written by :func:`ventgen.write_recording`),
``manifest.csv`` (one row per breath), ``node_labels.csv`` and ``cohort.json`` (the spec, the options,
the files ventgen wrote there, the achieved composition). :func:`write_cohort` writes it atomically and
replaces only a cohort folder ventgen wrote, never a folder holding anything else or the inputs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

from .._core import atomic_dir, atomic_path, json_default_lenient, read_json_document
from ..errors import FileFormatError, VentgenTypeError, VentgenValueError
from ..generate.result import CohortResult
from ..generate.spec import CohortSpec, CompositionEntry, spec_from_dict
from .cohort_spec import PLAIN_NAME, RECORDING_FILE
from .recordings import read_recording, write_recording

__all__ = ["write_cohort", "read_cohort", "check_output_folder", "check_format", "COHORT_FORMATS", "cohort_file_names",
           "write_cohort_patient", "finish_cohort"]

#: Recording formats of a cohort folder and their file suffixes.
COHORT_FORMATS = {"hdf5": ".h5", "csv": ".csv", "wfdb": ".hea", "edf": ".edf"}
#: What write_cohort puts in a cohort folder besides the recordings its cohort.json lists: the only
#: files ``overwrite`` may replace.
_COHORT_FILES = ("cohort.json", "manifest.csv", "node_labels.csv")
#: ``CohortResult.info`` keys kept out of cohort.json: timings differ between two runs with one seed,
#: and cohort.json (like the manifest) is covered by the same-seed-same-bytes promise.
_NOT_IN_COHORT_JSON = ("seconds", "breaths_per_s", "duration_s")
#: Hidden folder of the patients' manifest rows while a cohort is written patient by patient.
_PARTS = ".manifest-parts"
_MANIFEST_COLUMNS = ["patient", "file", "breath_index", "start_s", "end_s", "label", "level", "node", "entry"]
_MANIFEST_NUMERIC = ["breath_index", "start_s", "end_s", "level", "node"]


# ============================================================================ the output folder
def _cohort_files_of(folder: Path) -> set:
    """Names of the recordings that ventgen wrote in ``folder``, from its cohort.json; refuses a folder
    that is not a ventgen cohort folder (its files are not ventgen's to replace)."""
    doc_path = folder / "cohort.json"
    why = None
    try:
        doc = read_json_document(doc_path, "cohort.json")
    except FileNotFoundError:
        why = "it has no cohort.json"
    except (VentgenValueError, OSError):
        why = "its cohort.json cannot be read"
    else:
        doc = doc if isinstance(doc, dict) else {}
        files, written = doc.get("files"), doc.get("written", [])
        if not (isinstance(files, list) and all(isinstance(f, str) and RECORDING_FILE.match(f) for f in files)
                and isinstance(written, list) and all(isinstance(f, str) and PLAIN_NAME.match(f) for f in written)):
            why = "its cohort.json does not list the files ventgen wrote"
    if why:
        raise VentgenValueError(f"{folder}: not replaced: {why}, so it is not a cohort folder written by ventgen; "
                                "--overwrite only replaces such a folder; choose an empty or new output folder")
    return set(files) | set(written)


def _inside(path, folder: Path) -> bool:
    p = Path(path).resolve()
    return p == folder or folder in p.parents


def check_output_folder(out: Path, *, overwrite: bool, inputs=()) -> bool:
    """Refuse an output folder that a cohort may not be written to; True when it exists (and may be
    replaced). Runs before any work starts, and again right before the replacement.

    An existing non-empty folder is replaced only with ``overwrite``, only when it is a cohort folder
    that ventgen wrote (a readable cohort.json) holding nothing but what ventgen wrote there, and never
    when it holds one of the ``inputs`` (model, spec, reference cycles).
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(17, "exists and is not a folder", str(out))
    real = out.resolve()
    held = [str(p) for p in inputs if p is not None and _inside(p, real)]
    if held:
        raise VentgenValueError(f"{out}: the output folder holds the input {held[0]}; write the cohort to another "
                                "folder (a cohort folder holds only what ventgen writes there)")
    if not out.is_dir():
        return False
    entries = sorted(out.iterdir())
    if not entries:
        return True
    if not overwrite:
        raise FileExistsError(17, "folder exists and is not empty; pass overwrite=True (or --overwrite) to replace "
                                  "the cohort ventgen wrote there", str(out))
    ours = set(_COHORT_FILES) | _cohort_files_of(out)
    foreign = [p.name for p in entries if p.name not in ours or p.is_symlink() or not p.is_file()]
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise VentgenValueError(f"{out}: not replaced: it holds {shown}, which ventgen did not write there; "
                                "--overwrite only replaces a cohort's own files; move them or choose another folder")
    return True


def check_format(format: str) -> None:
    if format not in COHORT_FORMATS:
        raise VentgenValueError(f"write_cohort: format must be one of {sorted(COHORT_FORMATS)}, got {format!r}")


# ============================================================================ writing
def cohort_file_names(subjects, format: str) -> list:
    """The recording file of every patient, ``<subject><suffix>``; one clear error for names that are not
    plain, distinct file names."""
    names = [f"{s}{COHORT_FORMATS[format]}" for s in subjects]
    bad = [n for n in names if not RECORDING_FILE.match(n) or n in _COHORT_FILES]
    if bad:
        raise VentgenValueError(f"write_cohort: patient names {bad[:3]} do not give plain file names; expected "
                                "names without '/', a leading '.' or the names of the cohort's own files")
    if len(set(names)) != len(names):
        raise VentgenValueError("write_cohort: two patients share one name; expected distinct subjects")
    return names


def _manifest_csv(manifest: pd.DataFrame, files, path) -> None:
    """The manifest rows with their recording file (``files``: one per row, or one for all)."""
    man = manifest.copy()
    man.insert(1, "file", files)
    man.to_csv(path, index=False, float_format="%.6g")


def _write_cohort_json(folder: Path, spec: CohortSpec, format: str, names: list, info: dict,
                       composition: pd.DataFrame) -> None:
    """cohort.json, the last file of a cohort folder (it lists what ventgen wrote there)."""
    doc = {"spec": spec.to_dict(), "format": format, "files": names,
           "written": sorted(p.name for p in folder.iterdir() if p.name not in names) + ["cohort.json"],
           "info": {k: v for k, v in info.items() if k not in _NOT_IN_COHORT_JSON},
           "composition": composition.to_dict(orient="records")}
    (folder / "cohort.json").write_text(json.dumps(doc, indent=2, default=json_default_lenient), encoding="utf-8")


def write_cohort_patient(folder, rec, manifest: pd.DataFrame, *, name: str, index: int, format: str) -> None:
    """Write one patient into ``folder``, the temporary folder of a cohort being written (what each
    worker of ``ventgen generate --workers N`` does): its recording ``name`` and its manifest rows (a
    hidden part that :func:`finish_cohort` joins). Each file is written atomically; writing a patient
    twice (a task retried on another worker) writes the same files again."""
    folder = Path(folder)
    write_recording(rec, folder / name, format=format, overwrite=True)
    parts = folder / _PARTS
    parts.mkdir(exist_ok=True)
    with atomic_path(parts / f"{int(index):09d}.csv", overwrite=True) as tmp:
        _manifest_csv(manifest, name, tmp)


def finish_cohort(folder, *, spec: CohortSpec, names: list, node_labels: pd.DataFrame, info: dict,
                  composition: pd.DataFrame, format: str) -> None:
    """Complete a cohort folder written patient by patient (:func:`write_cohort_patient`):
    ``manifest.csv`` joined from the patients' parts in patient order (streamed, never held in memory),
    ``node_labels.csv``, and ``cohort.json`` last. The same bytes as :func:`write_cohort`."""
    folder = Path(folder)
    parts = folder / _PARTS
    with open(folder / "manifest.csv", "wb") as out:
        for i in range(len(names)):
            with open(parts / f"{i:09d}.csv", "rb") as part:
                header = part.readline()
                if i == 0:
                    out.write(header)
                shutil.copyfileobj(part, out)
    shutil.rmtree(parts)
    node_labels.to_csv(folder / "node_labels.csv", index=False)
    _write_cohort_json(folder, spec, format, names, info, composition)


def write_cohort(result: CohortResult, out_dir, *, format: str = "hdf5", overwrite: bool = False,
                 inputs=()) -> Path:
    """Write the recordings, ``manifest.csv``, ``node_labels.csv`` and ``cohort.json`` into ``out_dir``.

    The cohort is written into a temporary folder beside ``out_dir`` that takes its place at the end
    (atomically): an interrupted run leaves no half cohort, and while a cohort is replaced there is
    no moment without one. ``cohort.json`` and ``manifest.csv`` depend on the seed alone (timings
    stay in ``result.info``).

    Parameters
    ----------
    result : CohortResult
    out_dir : str or path-like
        A new or empty folder; with ``overwrite``, also a cohort folder written by ventgen.
    format : {"hdf5", "csv", "wfdb", "edf"}
        Format of the recordings (one file per patient, through :func:`ventgen.write_recording`;
        WFDB records add ``.dat`` and ``.atr`` files beside each ``.hea``).
    overwrite : bool
        Replace a cohort folder ventgen wrote. A folder holding anything else (other files, folders,
        the spec's reference cycles), or without a readable ``cohort.json``, is refused.
    inputs : sequence of paths
        Files the folder must not hold (the model, the spec, the reference cycles); the spec's
        reference is always one.

    Returns
    -------
    Path
        ``out_dir``.

    Examples
    --------
    See :func:`ventgen.generate_cohort`.
    """
    if not isinstance(result, CohortResult):
        raise VentgenTypeError(f"write_cohort: expected a CohortResult, got {type(result).__name__}")
    check_format(format)
    out = Path(os.path.abspath(out_dir))
    names = cohort_file_names([rec.subject for rec in result.recordings], format)
    exists = check_output_folder(out, overwrite=overwrite, inputs=(*inputs, result.spec.reference))
    with atomic_dir(out, replace=exists) as tmp:
        for rec, name in zip(result.recordings, names, strict=True):
            write_recording(rec, tmp / name, format=format)
        files = result.manifest["patient"].map(dict(zip([r.subject for r in result.recordings], names, strict=True)))
        _manifest_csv(result.manifest, files, tmp / "manifest.csv")
        result.node_labels.to_csv(tmp / "node_labels.csv", index=False)
        _write_cohort_json(tmp, result.spec, format, names, result.info, result.composition())
    return Path(out_dir)


# ============================================================================ reading
def _read_table(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise FileFormatError(path, f"not a readable {what} CSV table ({detail})") from None


def _read_manifest(path: Path) -> pd.DataFrame:
    man = _read_table(path, "manifest")
    miss = [c for c in _MANIFEST_COLUMNS if c not in man.columns]
    if miss:
        raise FileFormatError(path, f"missing column(s) {miss}; expected {_MANIFEST_COLUMNS}")
    for col in _MANIFEST_NUMERIC:
        if not pd.api.types.is_numeric_dtype(man[col]):
            raise FileFormatError(path, "expected numbers in every row", field=col)
    man["file"] = man["file"].astype(str)
    bad = sorted({f for f in man["file"] if not RECORDING_FILE.match(f)})
    if bad:
        raise FileFormatError(path, f"{bad[:3]} are not recording files of the cohort folder; expected plain "
                              ".h5 or .csv file names", field="file")
    return man


def _read_cohort_json(path: Path) -> dict:
    doc = read_json_document(path, "cohort.json")
    if not isinstance(doc, dict):
        raise FileFormatError(path, f"expected a JSON object at the top level, got {type(doc).__name__}")
    for key, kind, name in (("spec", dict, "an object"), ("info", dict, "an object"), ("files", list, "an array"),
                            ("format", str, "a string")):
        if key in doc and not isinstance(doc[key], kind):
            raise FileFormatError(path, f"expected {name}, got {type(doc[key]).__name__}", field=key)
    return doc


def read_cohort(path) -> CohortResult:
    """Read a folder written by :func:`write_cohort` back into a :class:`CohortResult`.

    Raises
    ------
    FileFormatError
        When ``manifest.csv``, ``cohort.json`` or ``node_labels.csv`` cannot be read (one line naming
        the file and the field).

    Examples
    --------
    See :func:`ventgen.generate_cohort`.
    """
    d = Path(path)
    man_path = d / "manifest.csv"
    if not d.is_dir():
        raise FileNotFoundError(2, "no such cohort folder", str(d))
    if not man_path.is_file():
        raise FileFormatError(d, "not a ventgen cohort folder: manifest.csv is missing")
    man = _read_manifest(man_path)
    json_path = d / "cohort.json"
    meta = _read_cohort_json(json_path) if json_path.is_file() else {}
    files = list(dict.fromkeys(man["file"]))
    recs = [read_recording(d / f) for f in files]
    if "spec" in meta:
        spec = spec_from_dict(meta["spec"], path=json_path, prefix="spec")
    else:
        ents = man["entry"].value_counts(normalize=True)
        spec = CohortSpec(patients=len(files), breaths=int(man.groupby("patient").size().max()),
                          composition=tuple(CompositionEntry(float(v), name=str(k)) for k, v in ents.items()))
    nl_path = d / "node_labels.csv"
    nl = _read_table(nl_path, "node labels") if nl_path.is_file() else pd.DataFrame()
    return CohortResult(recs, man.drop(columns=["file"]), spec, nl, meta.get("info", {}))
