"""The generator stage of :meth:`ventgen.HTVAE.fit`: the flow generator, trained after the HTVAE's epochs.

The stage trains the model's :class:`~ventgen.models.flowgen.FlowGenerator` on the same cycles, or
continues it from a checkpoint written during an earlier run of the stage, and writes the model's
checkpoint after every generator epoch, so that ``resume=True`` continues inside the generator.
"""

from __future__ import annotations

import numpy as np

from .checkpoint import restore_trainer
from .flowgen import fit_flow_generator
from .stored import stored_generator

__all__ = ["fit_model_generator"]


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
    return gen
