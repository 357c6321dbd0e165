"""The generator stage of :meth:`ventgen.HTVAE.fit`: the flow generator, trained after the HTVAE's epochs.

The stage trains the model's :class:`~ventgen.models.flowgen.FlowGenerator` on the same cycles, or
continues it from a checkpoint written during an earlier run of the stage, and writes the model's
checkpoint after every generator epoch, so that ``resume=True`` continues inside the generator.
"""

from __future__ import annotations

import numpy as np

from .._core import check_random_state
from ..errors import VentgenValueError
from ..signals.resolution import cycle_resolution
from .checkpoint import restore_trainer
from .flowgen import fit_flow_generator
from .marginals import MarginalMap
from .stored import stored_generator

__all__ = ["fit_model_generator", "calibrate_generator", "CALIBRATION_BREATHS"]

#: The generator's breaths drawn (for as many training breaths) to fit its marginal map.
CALIBRATION_BREATHS = 4000
#: A (class, channel, position) is mapped only where the two-sample KS test rejects equal marginals at this level.
CALIBRATION_ALPHA = 0.001


def fit_model_generator(model, X, arr: np.ndarray, ckpt_path, ckpt, epoch_callback, dist=None):
    """Train (or continue, from ``ckpt``) the flow generator of the fitted HTVAE ``model`` on its
    training cycles ``arr`` (``X`` gives their lengths); None when the model asks for no generator.

    ``ckpt_path`` (or None) receives the checkpoint after every epoch; ``epoch_callback(row)`` gets each
    epoch's history row with ``part="generator"`` and the number of ``epochs``. Sets
    ``model.generator_training_state_``. With ``dist`` (DDP, every process with the same cycles) every
    process trains its part of each epoch and rank 0 alone writes and calls back.
    """
    cfg = model.config_
    if cfg.generator != "flow" or arr.ndim != 3 or cfg.generator_steps == 0:
        return None
    saved = None if ckpt is None else ckpt.get("generator")
    restore = None
    if saved is not None:
        stored_generator(ckpt_path, saved, model)  # checks every field before use
        if saved.get("trainer") is not None:
            def restore(lp):
                restore_trainer(ckpt_path, lp, saved["trainer"])

    main = dist is None or dist.is_main

    def on_epoch_end(gen, lp, epochs):
        model.generator_ = gen
        if ckpt_path is not None and main:
            model._write(ckpt_path, overwrite=True, gen_loop=lp)
        if epoch_callback is not None and main:
            epoch_callback({"part": "generator", "epochs": epochs, **lp.history[-1]})

    gen, loop = fit_flow_generator(
        model, arr, getattr(X, "lengths", None), steps=cfg.generator_steps, width=cfg.generator_width,
        lr=cfg.generator_lr, batch_size=cfg.generator_batch_size, seed=model.seeds_[1] ^ 0x5EED,
        progress=model.progress if main else False, resume=saved, restore=restore, on_epoch_end=on_epoch_end,
        dist=dist,
    )
    model.generator_training_state_ = loop.state_dict()
    model.generator_ = gen
    if cfg.generator_calibration == "quantile":  # every process alike (no collective, no process waits)
        calibrate_generator(model, X, random_state=model.seeds_[1] ^ 0xCA1)
    return gen


def calibrate_generator(model, cycles, random_state=None) -> MarginalMap:
    """Fit (or refit) the marginal map of ``model``'s flow generator on its training ``cycles`` (a
    CycleSet; an array (n, C, T) counts as unlabelled cycles that fill T) and set it as
    ``model.generator_.marginals``; returns it.

    The generator draws a breath for each of up to :data:`CALIBRATION_BREATHS` training breaths (their
    own encodings and lengths, uncalibrated); :class:`~ventgen.models.marginals.MarginalMap` maps those
    breaths' marginals onto the training breaths', per class (``cycles.labels``) and channel, at the
    first positions of the breath, as far as the two differ from the start (a two-sample KS test at
    each position; the run stops at the first position where they do not). ``HTVAE.fit`` calls it after training the generator
    (``generator_calibration="quantile"``, the default); call it on a model file written before, then
    ``model.save``. It also (re)sets the generator's recording resolution from the ``cycles``
    (:func:`ventgen.signals.resolution.cycle_resolution`), which a model file written before it lacks.

    Examples
    --------
    >>> import ventgen
    >>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    >>> cyc = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    >>> model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0, device="cpu",
    ...                       progress=False, generator="flow", generator_steps=20, generator_width=8).fit(cyc)
    >>> model.generator_.marginals
    MarginalMap(... classes, 2 channels x ... samples, 33 quantiles, ...% mapped)
    """
    gen = getattr(model, "generator_", None)
    if gen is None:
        raise VentgenValueError("calibrate_generator needs a model with a flow generator (generator='flow')")
    X = np.asarray(getattr(cycles, "X", cycles), dtype=np.float32)
    if X.ndim != 3 or X.shape[1:] != tuple(model.input_shape_):
        raise VentgenValueError(f"calibrate_generator needs the training cycles (a CycleSet, or an array of shape "
                                f"(n, {', '.join(map(str, model.input_shape_))})), got shape {X.shape}")
    n, T = X.shape[0], X.shape[-1]
    L = np.clip(np.asarray(getattr(cycles, "lengths", np.full(n, T)), dtype=np.int64), 1, T)
    labels = getattr(cycles, "labels", None)
    lab = np.full(n, "") if labels is None else np.asarray(labels).astype(str)
    rng = check_random_state(random_state)
    sub = np.sort(rng.choice(n, min(n, CALIBRATION_BREATHS), replace=False))
    G = model.generate_cycles(model.transform(X[sub]), L[sub], random_state=rng, calibrate=False)
    gen.marginals = MarginalMap.fit(X, L, lab, G, L[sub], lab[sub], alpha=CALIBRATION_ALPHA, leading=True)
    gen.resolution = cycle_resolution(X, L)
    return gen.marginals
