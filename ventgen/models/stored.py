"""What a model file stores: the HTVAE's state (:func:`model_state`), the generation data and the flow
generator.

Plain data go into the file as tensors and primitive containers (what ``torch.load(weights_only=True)``
reads) and come back as numpy arrays; every field is checked on the way back, one
:class:`~ventgen.errors.FileFormatError` line naming the file and the field otherwise.
"""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..errors import FileFormatError, VentgenError
from ..generate.stored import StoredGeneration, generation_state
from .checkpoint import FORMAT, FORMAT_VERSION, _to_arrays, load_weights, to_tensors
from .flowgen import FlowGenerator

__all__ = ["model_state", "generation_data", "to_tensors", "stored_generation", "stored_generator"]


def model_state(model, loop=None, gen_loop=None) -> dict:
    """The document a model file (or a training checkpoint) holds for the fitted ``model``.

    With ``loop`` (the HTVAE's training loop, during its epochs) or ``gen_loop`` (the generator's, during
    its epochs) it is a checkpoint holding that loop's state; without either, the final model file,
    which also holds the generation data.
    """
    tr = loop.state_dict() if loop is not None else getattr(model, "training_state_", None)
    gen = getattr(model, "generator_", None) if loop is None else None
    gen_tr = gen_loop.state_dict() if gen_loop is not None else getattr(model, "generator_training_state_", None)
    final = loop is None and gen_loop is None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ventgen_version": __version__,
        "params": model._params(),
        "input_shape": list(model.input_shape_),
        "n_samples": int(model.n_samples_),
        "seeds": list(model.seeds_),
        "scaling": {k: v for k, v in model.scaling_.items()},
        "model": {k: v.detach().cpu() for k, v in model.module_.state_dict().items()},
        "history": [dict(h) for h in (loop.history if loop is not None else model.history_)],
        "trainer": tr,
        "data_sha256": getattr(model, "data_sha256_", None),
        **({} if gen is None else {"generator": gen.state(trainer=gen_tr)}),
        **({} if not final or getattr(model, "generation_", None) is None
           else {"generation": to_tensors(model.generation_.to_state())}),
    }


def generation_data(model, X) -> StoredGeneration | None:
    """The generation data of a model fitted on a CycleSet of breath cycles (None for arrays and images)."""
    if not all(hasattr(X, a) for a in ("X", "lengths", "sampling_rate")) or np.ndim(X.X) != 3:
        return None
    return StoredGeneration(generation_state(model, X))


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
                                    width=cfg.generator_width, device=model.device_, load_weights=load_weights,
                                    length=model.input_shape_[-1])
