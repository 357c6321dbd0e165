"""Checking ventgen model files and training checkpoints: refuse anything malformed or hostile.

The file itself is read by :func:`ventgen.io.checkpoint.read_checkpoint` (``torch.load(weights_only=True)``
only: no object other than tensors and plain containers is ever built); every field of what it holds is
then checked here before any of it is used: the hyper-parameters (with their limits, see
:mod:`ventgen.models.config`), the input shape, the scaling, every weight tensor's name, shape, type and
finiteness against the model those parameters describe (worked out on torch's ``meta`` device, so that a
file declaring an absurd model allocates nothing), and, to resume, the optimizer and random-generator
states. Each problem is one :class:`~ventgen.errors.FileFormatError` line naming the file and the field.

:func:`data_fingerprint` identifies the training data (values, shape, padding lengths, must-link
links) so that ``resume`` refuses a checkpoint written for other data (:func:`check_resume`).
"""

from __future__ import annotations

import hashlib
import numbers
import re
import warnings
from pathlib import Path

import numpy as np
import torch

from .._core.limits import MAX_CYCLE_LENGTH, MAX_EPOCHS
from ..errors import FileFormatError, VentgenError, VentgenValueError, VentgenWarning
from .config import PRESETS, HTVAEConfig, field_names

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CHECKPOINT_NAME",
    "ADDED_PARAMS",
    "check_checkpoint",
    "check_resume",
    "load_weights",
    "restore_trainer",
    "data_fingerprint",
    "scaling_from",
    "to_tensors",
]

FORMAT = "ventgen.HTVAE"
FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
#: parameters added after FORMAT_VERSION 1 checkpoints were first written, with the value they implied
#: (the paper's, from :data:`ventgen.models.config.PRESETS`)
ADDED_PARAMS = {
    k: getattr(PRESETS["paper"], k)
    for k in (
        "hierarchy_weight",
        "topology_weight",
        "code_lr_scale",
        "reconstruction_weights",
        "mask_padding",
        "reconstruction_loss",
        "generator",
        "generator_steps",
        "generator_width",
        "generator_lr",
        "generator_batch_size",
        "generator_sample_steps",
        "generator_time_power",
        "generator_calibration",
        "covariance",
        "parents",
        "warmup_fraction",
        "upper_levels",
    )
}
#: parameters that may change when a training resumes (more epochs or steps, other sampling)
RESUMABLE_CHANGES = ("epochs", "device", "progress", "generator_steps", "generator_sample_steps",
                     "generator_time_power", "generator_calibration")
#: what the ``params`` of a file hold: the hyper-parameters and the seed ("preset" is optional)
STORED_PARAMS = (*field_names(), "random_state")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_checkpoint(path, ckpt) -> tuple[dict, dict]:
    """Check the fields of ``ckpt`` (read from ``path``); returns ``(checkpoint, params)``.

    ``params`` are the estimator keyword arguments the file stores, validated and normalised
    (parameters added in later versions filled with the value older files implied).
    """
    path = Path(path)
    _check_header(path, ckpt)
    params = _check_params(path, ckpt["params"])
    _check_fields(path, ckpt)
    return ckpt, params


def _check_header(path: Path, ckpt) -> None:
    if not isinstance(ckpt, dict):
        raise FileFormatError(
            path, f"not a ventgen model file: it holds a {type(ckpt).__name__}, expected a dict at the top level"
        )
    if ckpt.get("format") != FORMAT:
        raise FileFormatError(path, f"not a ventgen model file (expected format {FORMAT!r})", field="format")
    v = ckpt.get("format_version")
    if not _int(v) or v < 1:
        raise FileFormatError(path, f"must be a positive integer, got {v!r}", field="format_version")
    if v > FORMAT_VERSION:
        raise FileFormatError(
            path,
            f"format version {v} is newer than this ventgen reads ({FORMAT_VERSION}); upgrade ventgen",
            field="format_version",
        )
    ver = ckpt.get("ventgen_version")
    if ver is not None and not (isinstance(ver, str) and len(ver) <= 64):
        raise FileFormatError(path, f"must be a version string, got {type(ver).__name__}", field="ventgen_version")
    for key in ("params", "input_shape", "n_samples", "seeds", "scaling", "model"):
        if key not in ckpt:
            raise FileFormatError(path, "missing (every ventgen model file has it)", field=key)


def _check_params(path: Path, params) -> dict:
    if not isinstance(params, dict):
        raise FileFormatError(path, f"must be a dict, got {type(params).__name__}", field="params")
    known = list(STORED_PARAMS)
    unknown = sorted(str(k) for k in params if k not in known and k != "preset")
    if unknown:
        raise FileFormatError(
            path, f"unknown parameter(s) {unknown[:5]} (this ventgen knows {known})", field="params"
        )
    p = {**ADDED_PARAMS, **params}
    missing = [k for k in known if k not in p]
    if missing:
        raise FileFormatError(path, f"missing parameter(s) {missing}", field="params")
    rs = p["random_state"]
    if rs is not None and not (_int(rs) and 0 <= rs < 2**63):
        raise FileFormatError(path, f"random_state must be None or an integer >= 0, got {rs!r}", field="params")
    if isinstance(p["maps"], (list, tuple)):
        p["maps"] = [tuple(m) if isinstance(m, (list, tuple)) else m for m in p["maps"]]
    preset = p.pop("preset", "paper")  # files without one were written with the paper's defaults
    if not (isinstance(preset, str) and preset in PRESETS):
        raise FileFormatError(path, f"unknown preset {preset!r} (this ventgen knows {sorted(PRESETS)})", field="params")
    try:
        cfg = HTVAEConfig(**{k: p[k] for k in field_names()}).validated()
    except (VentgenError, ValueError, TypeError) as exc:
        raise FileFormatError(path, str(exc).splitlines()[0], field="params") from None
    return {**vars(cfg), "random_state": rs, "preset": preset}


def _check_fields(path: Path, ckpt: dict) -> None:
    shape = ckpt["input_shape"]
    if not (
        isinstance(shape, (list, tuple))
        and len(shape) in (2, 3)
        and all(_int(s) and 1 <= s <= MAX_CYCLE_LENGTH for s in shape)
        and all(s >= 4 for s in shape[1:])
    ):
        raise FileFormatError(
            path,
            f"must be (channels, time) or (channels, height, width) with sizes in [4, {MAX_CYCLE_LENGTH}], "
            f"got {shape!r}",
            field="input_shape",
        )
    n = ckpt["n_samples"]
    if not (_int(n) and n >= 1):
        raise FileFormatError(path, f"must be a positive integer, got {n!r}", field="n_samples")
    seeds = ckpt["seeds"]
    if not (isinstance(seeds, (list, tuple)) and len(seeds) == 2 and all(_int(s) and 0 <= s < 2**62 for s in seeds)):
        raise FileFormatError(path, f"must be two integers in [0, 2**62), got {seeds!r}", field="seeds")
    _check_scaling(path, ckpt["scaling"], shape[0], len(shape))
    model = ckpt["model"]
    if not isinstance(model, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()
    ):
        raise FileFormatError(path, "must map weight names to tensors", field="model")
    hist = ckpt.get("history", [])
    if not isinstance(hist, list) or not all(isinstance(h, dict) for h in hist):
        raise FileFormatError(path, "must be a list of per-epoch dicts", field="history")
    tr = ckpt.get("trainer")
    if tr is not None and not isinstance(tr, dict):
        raise FileFormatError(path, f"must be a dict or None, got {type(tr).__name__}", field="trainer")
    fp = ckpt.get("data_sha256")
    if fp is not None and not (isinstance(fp, str) and _HEX64.match(fp)):
        raise FileFormatError(path, "must be a sha256 hex digest", field="data_sha256")


def _check_scaling(path: Path, s, channels: int, ndim: int) -> None:
    kind = s.get("kind") if isinstance(s, dict) else None
    if kind == "identity" and ndim == 3:
        return
    ok = kind == "minmax" and ndim == 2
    if ok:
        lo, hi = s.get("min"), s.get("max")
        ok = all(
            isinstance(t, torch.Tensor) and t.is_floating_point() and tuple(t.shape) == (channels,)
            for t in (lo, hi)
        )
        ok = ok and bool(torch.isfinite(lo).all() and torch.isfinite(hi).all() and (hi > lo).all())
    if not ok:
        raise FileFormatError(
            path,
            f"expected {{'kind': 'minmax', 'min': ({channels},), 'max': ({channels},)}} with finite min < max "
            "for time series, or {'kind': 'identity'} for images",
            field="scaling",
        )


def scaling_from(d: dict) -> dict:
    """The estimator's ``scaling_`` from a checked checkpoint field."""
    if d["kind"] == "minmax":
        return {"kind": "minmax", "min": d["min"].float(), "max": d["max"].float()}
    return {"kind": "identity"}


def load_weights(path, state: dict, build):
    """``build()`` a module and load ``state`` into it, after checking every tensor against it.

    The expected names and shapes come from a build on torch's ``meta`` device (nothing allocated),
    so a file that declares a huge model with small tensors is refused without using memory.
    """
    with torch.device("meta"):
        expected = build().state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise FileFormatError(
            path,
            f"the weights do not match the model its parameters describe (missing {missing[:3]}, "
            f"unexpected {extra[:3]})",
            field="model",
        )
    for key, ref in expected.items():
        t = state[key]
        if tuple(t.shape) != tuple(ref.shape) or t.dtype != ref.dtype:
            raise FileFormatError(
                path,
                f"tensor {key!r} is {t.dtype} {tuple(t.shape)}, expected {ref.dtype} {tuple(ref.shape)} "
                "for the model its parameters describe",
                field="model",
            )
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise FileFormatError(path, f"tensor {key!r} holds NaN or infinite values", field="model")
    module = build()
    module.load_state_dict(state)
    return module


def restore_trainer(path, trainer, state) -> None:
    """Load a checkpoint's training state into ``trainer``, refusing one that does not fit its model."""
    path = Path(path)
    if state is None:
        raise FileFormatError(
            path,
            "holds no training state (a saved model, not a per-epoch checkpoint): cannot resume from it",
            field="trainer",
        )
    ok = (
        _int(state.get("epoch"))
        and 0 <= state["epoch"] <= MAX_EPOCHS
        and isinstance(state.get("optimizer"), dict)
        and isinstance(state.get("history"), list)
        and all(isinstance(state.get(k), torch.Tensor) for k in ("rng_cpu", "rng_device"))
    )
    try:
        if ok:
            trainer.load_state_dict(state)
            ok = _optimizer_fits(trainer.optimizer)
    except (ValueError, RuntimeError, TypeError, KeyError, IndexError, StopIteration):
        ok = False
    if not ok:
        raise FileFormatError(
            path,
            "the training state (epoch, optimizer, random generators) is malformed or does not fit the "
            "model: cannot resume from it",
            field="trainer",
        )


def _optimizer_fits(optimizer) -> bool:
    for group in optimizer.param_groups:
        for p in group["params"]:
            st = optimizer.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in st and tuple(st[key].shape) != tuple(p.shape):
                    return False
    return True


def data_fingerprint(arr: np.ndarray, *, lengths=None, must_link=None, must_link_level: int = 1) -> str:
    """sha256 (hex) of the training data as the model sees it: float32 values, shape, padding lengths
    (when they weigh the loss) and must-link links with their level.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 1, 4), np.float32)
    >>> data_fingerprint(a) == data_fingerprint(a.astype(np.float64)) != data_fingerprint(a + 1)
    True
    """
    h = hashlib.sha256()
    a = np.ascontiguousarray(arr, dtype=np.float32)
    h.update(repr(("ventgen-data", 1, a.shape)).encode())
    h.update(a.reshape(-1).view(np.uint8))
    if lengths is not None:
        h.update(b"lengths")
        h.update(np.ascontiguousarray(lengths, dtype=np.int64))
    if must_link is not None:
        h.update(repr(("must_link", int(must_link_level))).encode())
        parts = [must_link.pairs] if must_link.pairs is not None else []
        if must_link.groups is not None:
            parts += [must_link.groups[k] for k in ("order", "start", "count")]
        for t in parts:
            h.update(np.ascontiguousarray(t.cpu().numpy(), dtype=np.int64))
    return h.hexdigest()


def check_resume(mine: dict, ckpt: dict, shape: tuple, fingerprint=None, path=None, stacklevel: int = 2) -> None:
    """Refuse to resume from ``ckpt`` with other parameters (``mine``, as a checkpoint stores them, less
    ``epochs``) or other data (``shape`` = the training array's shape, ``fingerprint`` its
    :func:`data_fingerprint`)."""
    where = "the checkpoint" if path is None else str(path)
    theirs = {**ADDED_PARAMS, **ckpt["params"]}
    diff = [k for k in mine if k not in RESUMABLE_CHANGES and mine[k] != theirs.get(k)]
    if diff:
        raise VentgenValueError(
            f"cannot resume: {where} was written with different parameters: "
            + ", ".join(f"{k}={theirs.get(k)!r} (now {mine[k]!r})" for k in diff)
        )
    if tuple(ckpt["input_shape"]) != tuple(shape[1:]) or int(ckpt["n_samples"]) != shape[0]:
        raise VentgenValueError(
            f"cannot resume: {where} was trained on {ckpt['n_samples']} samples of shape "
            f"{tuple(ckpt['input_shape'])}, got {shape[0]} of shape {tuple(shape[1:])}"
        )
    theirs_fp = ckpt.get("data_sha256")
    if fingerprint is not None and theirs_fp is not None and theirs_fp != fingerprint:
        raise VentgenValueError(
            f"cannot resume: {where} was trained on other data (same shape, but other values, padding "
            "lengths or must-link labels); to start fresh, train without resume (--resume), which "
            "replaces the checkpoint, or choose another checkpoint folder (--checkpoint-dir)"
        )
    if fingerprint is not None and theirs_fp is None:
        warnings.warn(
            f"{where} predates data fingerprints: cannot check that it was trained on the same data",
            VentgenWarning,
            stacklevel=stacklevel + 1,
        )


def to_tensors(obj):
    """Plain data with every numpy array as a tensor (what ``torch.load(weights_only=True)`` reads)."""
    if isinstance(obj, dict):
        return {k: to_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_tensors(v) for v in obj]
    return torch.from_numpy(np.ascontiguousarray(obj)) if isinstance(obj, np.ndarray) else obj


def _to_arrays(obj, depth: int = 0):
    """The inverse of :func:`to_tensors` (nested at most a few levels: deeper is refused by the check)."""
    if depth > 6:
        return None
    if isinstance(obj, dict):
        return {k: _to_arrays(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_arrays(v, depth + 1) for v in obj]
    return obj.numpy() if isinstance(obj, torch.Tensor) else obj
