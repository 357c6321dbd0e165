"""The reconstruction ceiling: the fidelity numbers of the model's own reconstructions of the real breaths."""

from __future__ import annotations

import numpy as np

from ..._core import check_random_state
from ...errors import VentgenValueError
from ...generate.observation import BoundaryBias, ObservationNoise
from ...generate.reference import NO_LABEL
from ...signals.cycles import CHANNELS, CycleSet, edge_pad
from .classifiers import CNN_EPOCHS, cycle_features, discriminative_score, tstr_trtr
from .metadata import METADATA_KS_COLUMNS, cycle_metadata, ks_table

__all__ = ["breath_rmse", "reconstruction_ceiling"]


def breath_rmse(cycles, R) -> dict:
    """RMSE per channel between ``cycles.X`` and ``R`` (same shape) over the samples of the breaths,
    leaving out the padding after each cycle's length (no generated breath keeps it).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> c = SimpleNamespace(X=np.zeros((2, 1, 4)), lengths=np.array([2, 4]), channels=["flow_lpm"])
    >>> R = np.array([[[1.0, 1.0, 9.0, 9.0]], [[1.0, 1.0, 1.0, 1.0]]])  # wrong only in row 0's padding
    >>> breath_rmse(c, R)
    {'flow_lpm': 1.0}
    """
    X, R = np.asarray(cycles.X, dtype=np.float64), np.asarray(R, dtype=np.float64)
    inside = np.arange(X.shape[2])[None, :] < np.asarray(cycles.lengths)[:, None]
    return {str(c): float(np.sqrt(np.mean((R[:, i] - X[:, i])[inside] ** 2)))
            for i, c in enumerate(getattr(cycles, "channels", range(X.shape[1])))}


def reconstruction_ceiling(model, real_cycles, classes=None, *, columns=METADATA_KS_COLUMNS,
                           random_state=0, noise: str = "none", boundary: str = "none",
                           noise_highpass_hz: float = 4.0, cnn_epochs: int = CNN_EPOCHS,
                           decoder: str = "auto", per_class=None, cnn_per_class=None) -> dict:
    """The same fidelity numbers for the model's reconstructions of the real breaths themselves.

    A generator cannot be more faithful than the decoder it samples through: reconstructions of the
    real training breaths (``model.reconstruct``, or, for a model with a flow generator, its breaths
    for the encodings and lengths of the real breaths, ``model.generate_cycles``, calibrated to their
    labels as generation calibrates; cut at their real
    lengths and edge-padded like real cycles) bound what generation can reach. Comparing a cohort's numbers with this ceiling separates
    a weak model from a weak generation procedure. ``noise`` and ``boundary`` (as in
    :func:`ventgen.generate_cohort`) add the same observation model to the reconstructions that
    generation adds to decoded breaths. ``decoder`` (as in :func:`ventgen.generate_cohort`): ``"flow"``
    or ``"auto"`` use the model's flow generator when it has one, ``"exact"``/``"linear"`` its decoder. ``cnn_epochs`` is the training budget of the CNN's score (0
    leaves it out). ``per_class`` and ``cnn_per_class`` (a cohort's scores' ``per_class``) compare
    as many breaths of each class as the cohort's scores did: the scores grow with the breaths
    compared, so a ceiling bounds a cohort's score only at the cohort's size (default: every breath,
    at most 5,000 a side).

    Returns
    -------
    dict
        ``ks_median`` (per class and column, over ``classes``), ``tstr_accuracy`` / ``trtr_accuracy`` /
        ``ratio`` (train on reconstructions, test on real), ``discriminative_score`` (the random
        forest's, real vs reconstructed; both on disjoint random halves of the breaths),
        ``cnn_discriminative_score`` (the same with :func:`cnn_discriminative_score` on the flow and
        pressure cycles), ``n_per_side`` (the forest's breaths per side), ``rmse`` per channel of the
        plain reconstructions over the samples of the breaths (the padding after each cycle's length
        is left out: no generated breath keeps it), ``noise`` and ``boundary``.

    Examples
    --------
    >>> reconstruction_ceiling(model, cycles, ["normal breathing", "apnea"])  # doctest: +SKIP
    """
    rng = check_random_state(random_state)
    X = np.asarray(real_cycles.X)
    labels = np.asarray(real_cycles.labels).astype(str)
    L = np.clip(np.asarray(real_cycles.lengths, dtype=np.int64), 2, X.shape[2])
    flow = getattr(model, "generator_", None) is not None and decoder in ("auto", "flow")
    if flow:  # the flow generator's breaths for the real latents
        R = np.asarray(model.generate_cycles(model.transform(X), L, random_state=rng, labels=labels), dtype=np.float32)
    else:
        R = np.asarray(model.reconstruct(X), dtype=np.float32)
    rate = float(real_cycles.sampling_rate)
    obs = R.copy()
    if boundary == "residual":
        BoundaryBias.fit(X, R, L, labels, width=max(1, int(round(0.4 * rate)))).apply(obs, labels, L)
    if noise == "residual":
        nz = ObservationNoise.fit(X, R, L, labels, highpass_hz=float(noise_highpass_hz), sampling_rate=rate)
        obs += nz.sample(labels, X.shape[2], np.random.default_rng(int(rng.integers(2**63 - 1))))
    raw = R
    R = edge_pad(obs, L)
    unlabelled = classes is None and not set(labels) - set(NO_LABEL)  # every breath, KS over all
    classes = (sorted(set(labels)) if unlabelled else sorted(set(labels) - {""}) if classes is None
               else [str(c) for c in classes])
    keep = np.flatnonzero(np.isin(labels, classes))
    rec = CycleSet(R[keep], lengths=np.asarray(real_cycles.lengths)[keep], sampling_rate=real_cycles.sampling_rate,
                   labels=labels[keep], channels=list(getattr(real_cycles, "channels", ["flow_lpm", "paw_cmh2o"])))
    real = real_cycles.subset(keep) if hasattr(real_cycles, "subset") else real_cycles
    lk = None if unlabelled else labels[keep]
    ks = ks_table(cycle_metadata(real), cycle_metadata(rec), lk, lk, columns=columns)
    # real breaths of one half against the reconstructions of the other: a breath next to its own
    # reconstruction would let the classifiers pair them up (identical sets score |0.1 - 0.5|)
    half = rng.random(keep.size) < 0.5
    a, b = keep[half], keep[~half]
    both = _flow_pressure_index(real_cycles, X.shape[1])
    fr, fq = cycle_features(X[a][:, both]), cycle_features(R[b][:, both])
    out = {"ks_median": float(np.nanmedian(ks["ks"])) if len(ks) else float("nan"),
           "rmse": breath_rmse(real_cycles, raw), "noise": noise, "boundary": boundary}
    try:
        t = tstr_trtr(fr, labels[a], fq, labels[b], random_state=rng)
        out.update({"tstr_accuracy": t["tstr_accuracy"], "trtr_accuracy": t["trtr_accuracy"], "ratio": t["ratio"]})
    except VentgenValueError:
        pass
    forest = discriminative_score(fr, fq, labels[a], labels[b], random_state=rng, per_class=per_class)
    out["discriminative_score"], out["n_per_side"] = forest["score"], forest["n_per_side"]
    if cnn_epochs > 0:
        from .cnn import cnn_discriminative_score  # torch: loaded when the CNN score is computed

        out["cnn_discriminative_score"] = cnn_discriminative_score(
            X[a][:, both], R[b][:, both], labels[a], labels[b], real_lengths=L[a], synth_lengths=L[b],
            random_state=rng, epochs=cnn_epochs, per_class=cnn_per_class)["score"]
    return out


def _flow_pressure_index(cycles, C: int) -> list:
    """Indices of the flow and pressure channels (in that order) of ``cycles``' ``C`` channels."""
    names = [str(c) for c in getattr(cycles, "channels", None) or CHANNELS[:C]]
    if not set(CHANNELS) <= set(names):
        raise VentgenValueError(f"reconstruction_ceiling: expected channels {list(CHANNELS)}, got {names}")
    return [names.index(c) for c in CHANNELS]
