"""The discriminative score of a small 1-D CNN on the raw breath cycles.

The random forest of :func:`~ventgen.evaluate.fidelity.discriminative_score` sees decimated cycles;
this network sees every sample of both channels, so it also catches what decimation hides (too smooth
or too noisy breaths, a wrong texture of the noise, sharp edges). Both scores use the same
class-matched, balanced samples and the same ``|accuracy - 0.5|``.

This module imports torch; :mod:`ventgen.evaluate.fidelity` loads it on first use.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch import nn
from torch.nn import functional as F

from ..._core import check_random_state
from ...errors import VentgenValueError
from ...signals.cycles import edge_pad
from .classifiers import CNN_EPOCHS, CNN_NAME, class_counts, matched_sides

__all__ = ["cnn_discriminative_score", "CycleCNN"]


_MIN_BATCHES = 8  # batches per epoch at least (smaller batches for small samples)


class CycleCNN(nn.Module):
    """The network of :func:`cnn_discriminative_score`: three strided convolutions (``width``, ``2 width``, ``2 width`` channels, ReLU), global mean and
    max pooling over time, one linear logit: "synthetic" when positive."""

    def __init__(self, channels: int, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(channels, width, 7, stride=2, padding=3), nn.ReLU(),
            nn.Conv1d(width, 2 * width, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(2 * width, 2 * width, 5, stride=2, padding=2), nn.ReLU())
        self.head = nn.Linear(4 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)).squeeze(1)


def _cycles(X, lengths, what: str) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim != 3:
        raise VentgenValueError(f"cnn_discriminative_score: {what} must be cycles (n, channels, time), got shape "
                                f"{np.shape(X)}")
    if not np.isfinite(arr).all():
        raise VentgenValueError(f"cnn_discriminative_score: {what} holds {int((~np.isfinite(arr)).sum())} "
                                "non-finite values")
    return arr if lengths is None else edge_pad(arr, lengths)


def cnn_discriminative_score(real_X, synth_X, real_y=None, synth_y=None, *, real_lengths=None, synth_lengths=None,
                             random_state=0, folds: int = 5, max_per_side: int = 5000, epochs: int = CNN_EPOCHS,
                             batch_size: int = 128, learning_rate: float = 3e-3, width: int = 16,
                             device="cpu", per_class=None) -> dict:
    """``|accuracy - 0.5|`` of a small 1-D CNN telling real from synthetic breath cycles.

    The samples are those of :func:`~ventgen.evaluate.fidelity.discriminative_score`: equally many
    real and synthetic cycles, matched class by class when both label arrays are given, at most
    ``max_per_side``; the accuracy is ``folds``-fold stratified cross-validated. In each fold a fresh
    :class:`CycleCNN` (three strided convolutions of ``width``, ``2 width``, ``2 width`` channels,
    global mean and max pooling, a linear logit) is trained for a fixed budget (``epochs`` of Adam,
    batches of ``batch_size``, smaller where an epoch would have fewer than 8 batches, binary
    cross-entropy) on every channel and its sample-to-sample steps
    (the first difference: it makes the texture of a breath, too smooth or too noisy, as visible as
    its shape), each normalised by the mean and standard deviation of the fold's real training cycles. The budget is fixed, so scores compare
    between cohorts; 0 = indistinguishable, 0.5 = trivially separable.

    Parameters
    ----------
    real_X, synth_X : arrays, shape (n, C, T)
        Real and synthetic cycles, the same channels in the same order and the same ``T``.
    real_y, synth_y : arrays of str, optional
        Classes, for class-matched samples.
    real_lengths, synth_lengths : arrays of int, optional
        Samples of each breath: every sample after it is replaced by the last one (edge padding, the
        CycleSet convention), so both sides are padded the same way.
    random_state : int or Generator
        Seeds the sample, the folds, the initial weights and the batches: on CPU, the same seed gives
        the same score.
    folds, max_per_side : int
    epochs, batch_size : int
        The training budget of each fold.
    learning_rate : float
        Adam's step size.
    width : int
        Channels of the first convolution.
    device : str or torch.device
        Where the network trains (``"cpu"``, ``"cuda"``); results are bit-reproducible on CPU only.
    per_class : dict, optional
        At most this many breaths of each class per side (the ``per_class`` of another result: scores
        compare only at the same size and class mix).

    Returns
    -------
    dict
        ``accuracy``, ``score``, ``n_per_side``, ``per_class``, ``folds``, ``classifier`` (``"cnn_1d"``),
        ``epochs``.

    Raises
    ------
    VentgenValueError
        Cycles that are not ``(n, C, T)`` arrays of the same ``C`` and ``T``, non-finite values, or
        fewer than ``2 * folds`` class-matched breaths per side.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 1, 64)
    >>> a = np.sin(2 * np.pi * t) + rng.normal(0, 0.3, (60, 2, 64))
    >>> b = np.sign(np.sin(2 * np.pi * t)) + rng.normal(0, 0.3, (60, 2, 64))
    >>> d = cnn_discriminative_score(a, b, epochs=10)
    >>> d["classifier"], d["n_per_side"], d["score"] > 0.4
    ('cnn_1d', 60, True)
    """
    rX, sX = _cycles(real_X, real_lengths, "real_X"), _cycles(synth_X, synth_lengths, "synth_X")
    if rX.shape[1:] != sX.shape[1:]:
        raise VentgenValueError(f"cnn_discriminative_score: real cycles {rX.shape[1:]} and synthetic cycles "
                                f"{sX.shape[1:]} differ in channels or length (expected the same (C, T))")
    if int(epochs) < 1 or int(batch_size) < 1 or int(width) < 1:
        raise VentgenValueError(f"cnn_discriminative_score: epochs, batch_size and width must be >= 1, got "
                                f"{epochs}, {batch_size}, {width}")
    rng = check_random_state(random_state)
    ir, is_ = matched_sides(real_y, synth_y, len(rX), len(sX), rng, max_per_side=max_per_side, folds=folds,
                            who="cnn_discriminative_score", per_class=per_class)
    n = ir.size
    X = np.concatenate([rX[ir], sX[is_]])
    y = np.r_[np.zeros(n, np.float32), np.ones(n, np.float32)]
    cv = StratifiedKFold(int(folds), shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    budget = {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate),
              "width": int(width), "device": torch.device(device)}
    acc = float(np.mean([_fold_accuracy(X, y, tr, te, int(rng.integers(2**63 - 1)), **budget)
                         for tr, te in cv.split(X, y)]))
    return {"accuracy": acc, "score": abs(acc - 0.5), "n_per_side": int(n),
            "per_class": class_counts(None if real_y is None or synth_y is None else real_y, ir),
            "folds": int(folds), "classifier": CNN_NAME, "epochs": int(epochs)}


def _fold_accuracy(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int, *, epochs: int,
                   batch_size: int, learning_rate: float, width: int, device: torch.device) -> float:
    """Accuracy on ``test`` of a fresh CNN trained on ``train`` (normalised by its real cycles)."""
    X = np.concatenate([X, np.diff(X, axis=2, prepend=X[:, :, :1])], axis=1)  # the signal and its steps
    real = X[train][y[train] == 0]
    mu = real.mean(axis=(0, 2), dtype=np.float64)
    sd = real.std(axis=(0, 2), dtype=np.float64)
    sd = np.where(sd > 1e-6 * np.maximum(1.0, np.abs(mu)), sd, 1.0)  # a constant channel stays as it is
    Xn = ((X - mu[None, :, None]) / sd[None, :, None]).astype(np.float32)
    xtr, ytr = torch.from_numpy(Xn[train]).to(device), torch.from_numpy(y[train]).to(device)
    with torch.random.fork_rng(devices=[]):  # the initial weights, without touching the global generator
        torch.manual_seed(seed % 2**63)
        net = CycleCNN(X.shape[1], width).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    order = np.random.default_rng(seed)
    batch_size = min(batch_size, -(-len(train) // _MIN_BATCHES))  # small samples still get some steps
    net.train()
    for _ in range(epochs):
        perm = torch.from_numpy(order.permutation(len(train))).to(device)
        for i in range(0, len(train), batch_size):
            b = perm[i:i + batch_size]
            loss = F.binary_cross_entropy_with_logits(net(xtr[b]), ytr[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(torch.from_numpy(Xn[test][i:i + 4096]).to(device))
                            for i in range(0, len(test), 4096)]).cpu().numpy()
    return float(np.mean((logits > 0) == (y[test] > 0.5)))
