"""Generate a cohort from a model file and a spec file: the step behind ``ventgen generate``."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import VentgenValueError
from ..generate.api import GenerationOptions, generate_cohort
from ..generate.result import CohortResult
from ..generate.spec import read_cohort_spec
from ..io.cohort import check_format, check_output_folder, write_cohort
from ._lazy import htvae_class

__all__ = ["generate_files"]





def generate_files(model, spec, reference, out_dir, *, random_state=0, format: str = "hdf5",
                   overwrite: bool = False, options: GenerationOptions | None = None) -> CohortResult:
    """Load a model (path or object), generate a cohort and write it: what ``ventgen generate`` runs.

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
        As in :func:`ventgen.write_cohort`.

    Returns
    -------
    CohortResult

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
    CohortResult(1 patients, 20 breaths, ...)
    >>> generate_files(os.path.join(d, "model.pt"), os.path.join(d, "spec.json"), None,  # the model file alone
    ...                os.path.join(d, "cohort2"), options=ventgen.GenerationOptions(nodes="members"))
    CohortResult(1 patients, 20 breaths, ...)
    """
    parsed = read_cohort_spec(spec)
    check_format(format)
    inputs = [p for p in (model, spec, reference, parsed.reference) if isinstance(p, (str, os.PathLike))]
    check_output_folder(Path(os.path.abspath(out_dir)), overwrite=overwrite, inputs=inputs)
    if isinstance(model, (str, os.PathLike)):
        # torch, a heavy dependency: `import ventgen` and the other commands stay without it
        HTVAE = htvae_class()

        if not Path(model).is_file():
            raise FileNotFoundError(2, "no such model file", str(model))
        path, model = model, HTVAE.load(model)
        if reference is None and parsed.reference is None and getattr(model, "generation_", None) is None:
            raise VentgenValueError(f"{path}: the model file stores no generation data (written before ventgen "
                                    "stored them); pass --reference cycles.h5 (reference=), its training cycles")
    result = generate_cohort(model, parsed, reference, random_state=random_state, options=options)
    write_cohort(result, out_dir, format=format, overwrite=overwrite, inputs=inputs)
    return result
