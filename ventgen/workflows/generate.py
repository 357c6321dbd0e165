"""Generate a cohort from a model file and a spec file: the step behind ``ventgen generate``.

The cohort is planned once (:func:`~ventgen.generate.plan.plan_cohort`), then its patients are made and
written one at a time, each from its own random stream: in this process (``workers=0``), or spread
over Dask workers (``workers=N``, a local cluster; ``scheduler=ADDRESS``, a running one; see
:mod:`ventgen.workflows.distributed`). Each task writes its patients' recordings and manifest rows
into the cohort's temporary folder and returns a small summary; the manifest is joined from those
rows, ``cohort.json`` is written last, and the folder takes its place at once. The cohort is never
gathered in one process (memory holds one patient per worker), and the files are the same, byte for
byte, whatever the number of workers.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from .._core import atomic_dir
from ..errors import VentgenValueError
from ..generate.options import GenerationOptions
from ..generate.plan import CohortPlan, generate_patient, plan_cohort
from ..generate.result import CohortSummary, composition_table
from ..generate.spec import read_cohort_spec
from ..io.cohort import (
    check_format,
    check_output_folder,
    cohort_file_names,
    finish_cohort,
    write_cohort_patient,
)
from ._lazy import htvae_class
from .distributed import check_workers, require_distributed, runner_for

__all__ = ["generate_files", "write_patients"]

#: Breaths a Dask task makes at least (patients are grouped up to it), so that small patients do not
#: cost one task each.
TASK_BREATHS = 4096


def generate_files(model, spec, reference, out_dir, *, random_state=0, format: str = "hdf5",
                   overwrite: bool = False, options: GenerationOptions | None = None, workers: int | None = 0,
                   scheduler: str | None = None) -> CohortSummary:
    """Load a model (path or object), generate a cohort and write it patient by patient: what
    ``ventgen generate`` runs.

    The output folder is checked before the (slow) generation: it must be new or empty, or, with
    ``overwrite``, a cohort folder ventgen wrote that holds nothing else and none of the inputs.

    Parameters
    ----------
    model : HTVAE or path
        A fitted model, or the path of one saved with ``HTVAE.save``.
    spec : dict, CohortSpec or path
    reference : CycleSet or path or None
        Cycles to learn node labels, breath lengths and event lengths from (other labelled data
        relabel the nodes); None: the spec's ``"reference"``, else the data stored in the model file.
    out_dir : path
        Output folder (see :func:`ventgen.write_cohort`).
    random_state, options
        As in :func:`ventgen.generate_cohort`.
    format, overwrite
        As in :func:`ventgen.write_cohort` (the same files, byte for byte).
    workers : int, optional
        ``0`` or ``None``: in this process. ``N >= 1``: on a local Dask cluster of N single-threaded
        worker processes (needs ``pip install 'ventgen[distributed]'``).
    scheduler : str, optional
        Address of a running Dask scheduler (its workers must import ventgen and see the output folder).

    Returns
    -------
    CohortSummary
        The folder, its recording files, breaths, duration and ``info`` (read the cohort back with
        :func:`ventgen.read_cohort`).

    Examples
    --------
    >>> import json, os, tempfile, ventgen
    >>> d = tempfile.mkdtemp()
    >>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    >>> cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    >>> model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0, device="cpu",
    ...                       progress=False).fit(cycles)
    >>> _ = model.save(os.path.join(d, "model.pt"))
    >>> _ = ventgen.write_cycleset(cycles, os.path.join(d, "cycles.h5"))
    >>> with open(os.path.join(d, "spec.json"), "w") as f:
    ...     json.dump({"patients": 1, "breaths": 20, "composition": {"normal breathing": 1}}, f)
    >>> generate_files(os.path.join(d, "model.pt"), os.path.join(d, "spec.json"), os.path.join(d, "cycles.h5"),
    ...                os.path.join(d, "cohort"), options=ventgen.GenerationOptions(nodes="members"))
    Cohort(1 patients, 20 breaths, ...)
    >>> generate_files(os.path.join(d, "model.pt"), os.path.join(d, "spec.json"), None,  # the model file alone
    ...                os.path.join(d, "cohort2"), options=ventgen.GenerationOptions(nodes="members"))
    Cohort(1 patients, 20 breaths, ...)
    """
    t0 = time.perf_counter()
    check_workers(workers, scheduler)
    if workers or scheduler is not None:
        require_distributed()  # before any work: one clear line when Dask is not installed
    parsed = read_cohort_spec(spec)
    check_format(format)
    inputs = [p for p in (model, spec, reference, parsed.reference) if isinstance(p, (str, os.PathLike))]
    out = Path(os.path.abspath(out_dir))
    exists = check_output_folder(out, overwrite=overwrite, inputs=inputs)  # before any work
    if isinstance(model, (str, os.PathLike)):
        # torch, a heavy dependency: `import ventgen` and the other commands stay without it
        HTVAE = htvae_class()

        if not Path(model).is_file():
            raise FileNotFoundError(2, "no such model file", str(model))
        path, model = model, HTVAE.load(model)
        if reference is None and parsed.reference is None and getattr(model, "generation_", None) is None:
            raise VentgenValueError(f"{path}: the model file stores no generation data (written before ventgen "
                                    "stored them); pass --reference cycles.h5 (reference=), its training cycles")
    plan = plan_cohort(model, parsed, reference, random_state, options)
    names = cohort_file_names(plan.names, format)
    with runner_for(workers, scheduler) as runner, atomic_dir(out, replace=exists) as tmp:
        per_task = 1 if not (workers or scheduler) else _patients_per_task(plan)
        tasks = [{"source": f"patients {a}..{min(a + per_task, len(names)) - 1}", "folder": str(tmp),
                  "format": format, "patients": list(range(a, min(a + per_task, len(names))))}
                 for a in range(0, len(names), per_task)]
        done = [row for rows in runner.run(write_patients, tasks, plan.options.progress, "generating patients",
                                           unit="task", shared=(model, plan), on_error="raise") for row in rows]
        check_output_folder(out, overwrite=overwrite, inputs=inputs)  # again, right before the replacement
        entries: dict = {}
        for row in done:
            for key, n in row["entries"].items():
                entries[key] = entries.get(key, 0) + n
        n_breaths = sum(row["n_breaths"] for row in done)
        info = plan.info(n_breaths, time.perf_counter() - t0, [row["duration_s"] for row in done])
        finish_cohort(tmp, spec=plan.spec, names=names, node_labels=plan.node_labels, info=info,
                      composition=composition_table(plan.spec, entries), format=format)
    return CohortSummary(str(out_dir), names, n_breaths, float(sum(info["duration_s"])), info)


def _patients_per_task(plan: CohortPlan) -> int:
    """Patients per Dask task: enough for :data:`TASK_BREATHS` breaths, and at least 8 tasks when there
    are that many patients (the bytes do not depend on it)."""
    per_patient = max(1, int(plan.counts.sum(axis=1).max()))
    return max(1, min(math.ceil(TASK_BREATHS / per_patient), math.ceil(plan.n_patients / 8)))


def write_patients(task: dict, shared: tuple) -> list:
    """Make and write the patients ``task["patients"]`` (the task a worker runs): ``shared`` is
    ``(model, plan)``. Returns one small summary per patient (never the signals)."""
    model, plan = shared
    rows = []
    for p in task["patients"]:
        rec, manifest = generate_patient(model, plan, p)
        name = cohort_file_names([plan.names[p]], task["format"])[0]
        write_cohort_patient(task["folder"], rec, manifest, name=name, index=p, format=task["format"])
        rows.append({"patient": p, "n_breaths": len(manifest), "duration_s": float(rec.duration_s),
                     "entries": manifest["entry"].value_counts().to_dict()})
    return rows
