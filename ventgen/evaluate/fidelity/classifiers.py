"""Classifier-based fidelity: train-on-synthetic vs train-on-real accuracy and the discriminative score."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

from ..._core import check_random_state
from ...errors import VentgenValueError
from ...signals.cycles import CHANNELS

__all__ = ["flow_pressure", "cycle_features", "tstr_trtr", "discriminative_score", "matched_sides", "class_counts",
           "FOREST_NAME", "CNN_NAME", "CNN_EPOCHS"]

#: The ``classifier`` names of :func:`discriminative_score`'s and
#: :func:`~ventgen.evaluate.fidelity.cnn_discriminative_score`'s results.
FOREST_NAME, CNN_NAME = "random_forest", "cnn_1d"
#: Training epochs of every fold of the CNN's discriminative score (its fixed budget).
CNN_EPOCHS = 20


def flow_pressure(cycles, what: str = "cycles") -> np.ndarray:
    """The flow and pressure channels of a CycleSet, in that order: ``(n, 2, T)`` float32.

    Both sides of a comparison go through this, so the classifiers compare the same channels in the
    same order whatever else a CycleSet holds. An object without ``channels`` must have exactly these
    two channels, in this order.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> c = SimpleNamespace(X=np.arange(12.0).reshape(1, 3, 4), channels=["paw_cmh2o", "volume_ml", "flow_lpm"])
    >>> flow_pressure(c)[0, :, 0].tolist()
    [8.0, 0.0]
    """
    X = np.asarray(cycles.X, dtype=np.float32)
    names = [str(c) for c in getattr(cycles, "channels", None) or CHANNELS[:X.shape[1]]]
    missing = [c for c in CHANNELS if c not in names]
    if X.ndim != 3 or missing or len(names) != X.shape[1]:
        raise VentgenValueError(f"{what}: expected cycles (n, channels, time) with channels {list(CHANNELS)}, got "
                                f"shape {X.shape} and channels {names}")
    return X[:, [names.index(c) for c in CHANNELS]]


def cycle_features(X, step: int = 4) -> np.ndarray:
    """Flattened, decimated cycles ``(n, C * ceil(T / step))`` float64: the classifiers' input.

    Examples
    --------
    >>> cycle_features(np.zeros((3, 2, 200)), step=4).shape
    (3, 100)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise VentgenValueError(f"cycle_features: expected (n, channels, time), got shape {X.shape}")
    return X[:, :, ::step].reshape(X.shape[0], -1)


def _forest(random_state, n_estimators=200, max_depth=None):
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, n_jobs=1,
                                  random_state=int(check_random_state(random_state).integers(2**31 - 1)))


def tstr_trtr(real_X, real_y, synth_X, synth_y, *, test_size: float = 0.3, random_state=0,
              max_train: int = 20000) -> dict:
    """Train-on-synthetic/test-on-real vs train-on-real/test-on-real accuracy.

    The real breaths of the classes present in both sets are split (stratified) into a training and a
    test part; a random forest trained on the real training part (TRTR) and one trained on the
    synthetic breaths (TSTR) are both scored on the same real test part.

    The two training sets are class-matched: each class gets as many synthetic as real training breaths
    (the smaller count of the two, at most ``max_train`` in all), so both forests learn the same class
    proportions. A cohort generated with other proportions than the real breaths (a balanced spec
    against natural recordings) would otherwise lose accuracy to the prior shift alone, where the
    classes overlap, and the ratio would not measure the breaths.

    Returns
    -------
    dict
        ``classes``, ``n_real_train``, ``n_synthetic_train``, ``n_test``, ``trtr_accuracy``,
        ``tstr_accuracy``, ``ratio`` (TSTR / TRTR), and the balanced accuracies.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (100, 5)), rng.normal(3, 1, (100, 5))]
    >>> y = np.r_[["a"] * 100, ["b"] * 100]
    >>> d = tstr_trtr(X, y, X + 0.1, y)
    >>> d["tstr_accuracy"] > 0.9 and d["trtr_accuracy"] > 0.9
    True
    """
    rng = check_random_state(random_state)
    rX, ry = np.asarray(real_X, dtype=float), np.asarray(real_y).astype(str)
    sX, sy = np.asarray(synth_X, dtype=float), np.asarray(synth_y).astype(str)
    classes = sorted((set(ry) & set(sy)) - {""})
    if len(classes) < 2:
        raise VentgenValueError(f"tstr_trtr: needs at least 2 classes present in both sets, got {classes}")
    rk, sk = np.isin(ry, classes), np.isin(sy, classes)
    rX, ry, sX, sy = rX[rk], ry[rk], sX[sk], sy[sk]
    _, counts = np.unique(ry, return_counts=True)
    strat = ry if counts.min() >= 2 else None
    Xtr, Xte, ytr, yte = train_test_split(rX, ry, test_size=test_size, stratify=strat,
                                          random_state=int(rng.integers(2**31 - 1)))
    ir, is_ = _class_matched(ytr, sy, rng, max_train)
    Xtr, ytr, sX, sy = Xtr[ir], ytr[ir], sX[is_], sy[is_]
    seed = int(rng.integers(2**31 - 1))
    p_real = _forest(seed, n_estimators=100).fit(Xtr, ytr).predict(Xte)
    p_syn = _forest(seed, n_estimators=100).fit(sX, sy).predict(Xte)
    trtr, tstr = accuracy_score(yte, p_real), accuracy_score(yte, p_syn)
    return {"classes": [str(c) for c in classes], "n_real_train": int(len(ytr)), "n_synthetic_train": int(len(sy)),
            "n_test": int(len(yte)), "trtr_accuracy": float(trtr), "tstr_accuracy": float(tstr),
            "ratio": float(tstr / trtr) if trtr > 0 else float("nan"),
            "trtr_balanced_accuracy": float(balanced_accuracy_score(yte, p_real)),
            "tstr_balanced_accuracy": float(balanced_accuracy_score(yte, p_syn))}


def _class_matched(real_y, synth_y, rng, max_per_side: int, per_class=None):
    """Indices of equally many real and synthetic breaths per class (classes in both), at most
    ``per_class[c]`` of class ``c`` per side when given (``{"": n}``: at most ``n`` in all)."""
    ry, sy = np.asarray(real_y).astype(str), np.asarray(synth_y).astype(str)
    classes = sorted(set(ry) & set(sy))
    if per_class is not None and set(per_class) == {""}:  # an unlabelled comparison's size: a total
        max_per_side, per_class = min(int(max_per_side), int(per_class[""])), None
    ir, is_ = [], []
    for c in classes:
        a, b = np.flatnonzero(ry == c), np.flatnonzero(sy == c)
        n = min(a.size, b.size) if per_class is None else min(a.size, b.size, int(per_class.get(c, 0)))
        ir.append(rng.choice(a, n, replace=False))
        is_.append(rng.choice(b, n, replace=False))
    ir, is_ = np.concatenate(ir) if ir else np.zeros(0, int), np.concatenate(is_) if is_ else np.zeros(0, int)
    if ir.size > max_per_side:
        k = rng.choice(ir.size, max_per_side, replace=False)
        ir, is_ = ir[k], is_[k]
    return ir, is_


def class_counts(labels, index) -> dict:
    """``{class: breaths}`` among ``labels[index]`` (``labels`` None: ``{"": len(index)}``), the
    ``per_class`` that repeats a comparison's size and class mix.

    >>> class_counts(np.array(["a", "b", "a"]), np.array([0, 2, 1]))
    {'a': 2, 'b': 1}
    """
    if labels is None:
        return {"": int(len(index))}
    names, counts = np.unique(np.asarray(labels).astype(str)[np.asarray(index, dtype=int)], return_counts=True)
    return {str(c): int(k) for c, k in zip(names, counts, strict=True)}


def matched_sides(real_y, synth_y, n_real: int, n_synth: int, rng, *, max_per_side: int, folds: int,
                  who: str, per_class=None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the real and synthetic breaths a discriminative score compares: equally many per
    side, class by class when both label arrays are given; at most ``max_per_side``, and at most
    ``per_class[c]`` breaths of class ``c`` per side when ``per_class`` is given (a class it does not
    name is left out; ``{"": n}``, an unlabelled comparison's size, caps the total at ``n``).

    Raises one :class:`VentgenValueError` line naming ``who`` when fewer than ``2 * folds`` breaths per
    side remain (too few for ``folds``-fold cross-validation).

    Examples
    --------
    >>> ry, sy = ["a"] * 3 + ["b"] * 2, ["a"] * 2 + ["b"] * 5
    >>> ir, is_ = matched_sides(ry, sy, 5, 7, np.random.default_rng(0), max_per_side=10, folds=2, who="demo")
    >>> ir.size, is_.size
    (4, 4)
    """
    if int(folds) < 2:
        raise VentgenValueError(f"{who}: folds must be at least 2, got {folds}")
    if real_y is None or synth_y is None:
        real_y, synth_y = np.zeros(n_real, str), np.zeros(n_synth, str)
    if len(real_y) != n_real or len(synth_y) != n_synth:
        raise VentgenValueError(f"{who}: {len(real_y)} real labels for {n_real} real breaths and "
                                f"{len(synth_y)} synthetic labels for {n_synth} synthetic breaths")
    ir, is_ = _class_matched(real_y, synth_y, rng, max_per_side, per_class)
    if ir.size < 2 * folds:
        raise VentgenValueError(f"{who}: only {ir.size} class-matched breaths per side; need >= {2 * folds}")
    return ir, is_


def discriminative_score(real_X, synth_X, real_y=None, synth_y=None, *, random_state=0, folds: int = 5,
                         max_per_side: int = 5000, per_class=None) -> dict:
    """``|accuracy - 0.5|`` of a fixed-size classifier telling real from synthetic breaths.

    The classifier is a random forest of 100 trees of depth at most 8 (fixed size, so scores are
    comparable between cohorts); accuracy is ``folds``-fold cross-validated on equally many real and
    synthetic breaths. With labels, the samples are matched class by class, so a different class mix
    alone cannot give the synthetic breaths away. The score grows with the breaths compared (the
    forest learns more from more), so two scores compare only at the same size: ``per_class`` (the
    ``per_class`` of another result) takes at most that many breaths of each class per side.

    Returns
    -------
    dict
        ``accuracy``, ``score``, ``n_per_side``, ``per_class`` (breaths per side of each class; ``""``
        without labels), ``folds``, ``classifier`` (``"random_forest"``).

    See Also
    --------
    ventgen.evaluate.fidelity.cnn_discriminative_score : the same score with a 1-D CNN on the raw cycles.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(0, 1, (300, 4)), rng.normal(0, 1, (300, 4))
    >>> discriminative_score(a, b)["score"] < 0.1
    True
    """
    rng = check_random_state(random_state)
    rX, sX = np.asarray(real_X, dtype=float), np.asarray(synth_X, dtype=float)
    ir, is_ = matched_sides(real_y, synth_y, len(rX), len(sX), rng, max_per_side=max_per_side, folds=folds,
                            who="discriminative_score", per_class=per_class)
    n = ir.size
    X = np.concatenate([rX[ir], sX[is_]])
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    cv = StratifiedKFold(folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    acc = float(cross_val_score(_forest(rng, n_estimators=100, max_depth=8), X, y, cv=cv).mean())
    return {"accuracy": acc, "score": abs(acc - 0.5), "n_per_side": int(n),
            "per_class": class_counts(None if real_y is None or synth_y is None else real_y, ir),
            "folds": int(folds), "classifier": FOREST_NAME}
