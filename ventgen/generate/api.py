"""Class-balanced virtual patients generated from the nodes of a trained HTVAE: :func:`generate_cohort`.

The steps, one module each:

1. **Spec** (:mod:`~ventgen.generate.spec`, read by :func:`ventgen.read_cohort_spec`): number of
   patients, minutes or breaths per patient, and the composition as fractions of breaths over fine
   classes, super-classes or explicit lattice nodes ``{"level": L, "node": k}``.
2. **Node labels** (:mod:`~ventgen.generate.labelling`): every reference (training) breath is assigned
   to one node per level by the model; a node's class is the majority label of its breaths.
3. **Resolution** and exact integer counts (:mod:`~ventgen.generate.composition`).
4. **Events** (:mod:`~ventgen.generate.events`): runs of one class and one node, with the run lengths
   of the reference, shuffled and spread.
5. **Latents** and lengths (:mod:`~ventgen.generate.latents`). Default ``length_method="node"``: a
   length drawn from the real lengths of the reference breaths of the same node. Why: the reference
   cycles are edge-padded after their true end, and a decoder reproduces that padding only
   approximately (a smooth tail, no sharp corner), so reading the length back from the decoded signal
   is fragile, while the node's breaths share the waveform the node decodes to.
6. **Decoding** in large batches (:mod:`~ventgen.generate.decode`), with the **observation model**
   (:mod:`~ventgen.generate.observation`: noise fitted to the model's residuals, the decoder's mean
   error at the two ends of a breath), cut to length and **stitched** into continuous flow and
   pressure (:mod:`~ventgen.generate.stitching`).
7. **Recordings** and the manifest (:mod:`~ventgen.generate.result`).

Steps 1-3 are planned once for the whole cohort (:func:`~ventgen.generate.plan.plan_cohort`); steps
4-7 run patient by patient (:func:`~ventgen.generate.plan.generate_patient`), each patient from its own
random stream, so that one patient can be made anywhere (``ventgen generate --workers N`` spreads them
over Dask workers) and the same seed gives the same bytes whatever the number of workers.
"""

from __future__ import annotations

import time

import pandas as pd

from .options import GenerationOptions
from .plan import generate_patients, plan_cohort
from .result import CohortResult

__all__ = ["GenerationOptions", "generate_cohort"]


def generate_cohort(model, spec, reference=None, random_state=0, options=None) -> CohortResult:
    """Generate virtual patients with a chosen class balance from a trained HTVAE.

    Parameters
    ----------
    model : HTVAE
        A fitted model (``maps``, ``codebook``, ``node_sigma``, ``decode``, ``assign`` are used;
        ``reconstruct`` for the observation model, ``transform`` or ``encode`` for ``latent="data"``).
    spec : dict, CohortSpec or path
        The cohort specification, see :func:`ventgen.read_cohort_spec`.
    reference : CycleSet or path, optional
        Cycles to learn the node labels, real breath lengths, event run lengths, latent moments and
        observation models from (other labelled data relabel the nodes). Default: the spec's
        ``"reference"`` path, else the data the model stored from its training cycles
        (``model.generation_``, saved in the model file; see :mod:`ventgen.generate.stored`).
    random_state : int, SeedSequence, Generator or None
        Seed; the same seed gives the same bytes. Patient ``p`` is made from its own stream,
        ``SeedSequence(seed).spawn(patients)[p]`` (see :mod:`ventgen.generate.plan`).
    options : GenerationOptions, optional
        How to generate (lengths, latents, nodes, noise, boundary, decoder, output rate, ...); the
        defaults are :class:`GenerationOptions`'s.

    Returns
    -------
    CohortResult

    Examples
    --------
    >>> import tempfile, ventgen
    >>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    >>> cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    >>> model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0,
    ...                       device="cpu", progress=False).fit(cycles)
    >>> spec = {"patients": 2, "breaths": 30, "composition": {"normal breathing": 0.5, "respiratory event": 0.5}}
    >>> result = ventgen.generate_cohort(model, spec, random_state=0,  # the data stored by fit: no reference
    ...                                  options=ventgen.GenerationOptions(latent="data"))
    >>> result
    CohortResult(2 patients, 60 breaths, ...)
    >>> result.composition()[["entry", "requested", "breaths"]]
                   entry  requested  breaths
    0   normal breathing        0.5       30
    1  respiratory event        0.5       30
    >>> folder = ventgen.write_cohort(result, tempfile.mkdtemp() + "/cohort")
    >>> sorted(p.name for p in folder.iterdir())
    ['cohort.json', 'manifest.csv', 'node_labels.csv', 'virtual_000.h5', 'virtual_001.h5']
    >>> back = ventgen.read_cohort(folder)
    >>> len(back.recordings), back.manifest["label"].equals(result.manifest["label"])
    (2, True)
    """
    t0 = time.perf_counter()
    plan = plan_cohort(model, spec, reference, random_state, options)
    recs, parts = [], []
    for rec, manifest in generate_patients(model, plan, plan.options.progress):
        recs.append(rec)
        parts.append(manifest)
    manifest = pd.concat(parts, ignore_index=True)
    info = plan.info(len(manifest), time.perf_counter() - t0, [r.duration_s for r in recs])
    return CohortResult(recs, manifest, plan.spec, plan.node_labels, info)
