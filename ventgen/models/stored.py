"""What a model file stores beside the HTVAE's weights: the generation data and the flow generator.

Plain data go into the file as tensors and primitive containers (what ``torch.load(weights_only=True)``
reads) and come back as numpy arrays; every field is checked on the way back, one
:class:`~ventgen.errors.FileFormatError` line naming the file and the field otherwise.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import FileFormatError, VentgenError
from ..generate.stored import StoredGeneration, generation_state
from .checkpoint import load_weights
from .flowgen import FlowGenerator

__all__ = ["generation_data", "to_tensors", "stored_generation", "stored_generator"]


def generation_data(model, X) -> StoredGeneration | None:
    """The generation data of a model fitted on a CycleSet of breath cycles (None for arrays and images)."""
    if not all(hasattr(X, a) for a in ("X", "lengths", "sampling_rate")) or np.ndim(X.X) != 3:
        return None
    return StoredGeneration(generation_state(model, X))


def to_tensors(obj):
    """Plain data with every numpy array as a tensor (what ``torch.load(weights_only=True)`` reads)."""
    if isinstance(obj, dict):
        return {k: to_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_tensors(v) for v in obj]
    return torch.from_numpy(np.ascontiguousarray(obj)) if isinstance(obj, np.ndarray) else obj


def _to_arrays(obj, depth: int = 0):
    """The inverse of :func:`_to_tensors` (nested at most a few levels: deeper is refused by the check)."""
    if depth > 6:
        return None
    if isinstance(obj, dict):
        return {k: _to_arrays(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_arrays(v, depth + 1) for v in obj]
    return obj.numpy() if isinstance(obj, torch.Tensor) else obj


def stored_generation(path, state, maps) -> StoredGeneration | None:
    """The checked generation data of a model file (None for files written before they were stored)."""
    if state is None:
        return None
    try:
        stored = StoredGeneration(_to_arrays(state))
    except (VentgenError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise FileFormatError(path, str(exc).splitlines()[0], field="generation") from None
    if stored.maps != [tuple(m) for m in maps]:
        raise FileFormatError(path, f"stored for maps {stored.maps}, the model has {list(maps)}", field="generation")
    return stored


def stored_generator(path, state, model) -> FlowGenerator | None:
    """The checked flow generator of a model file (None when it holds none)."""
    if state is None:
        return None
    cfg = model.config_
    return FlowGenerator.from_state(path, state, channels=model.input_shape_[0], latent_dim=cfg.latent_dim,
                                    width=cfg.generator_width, device=model.device_, load_weights=load_weights)
