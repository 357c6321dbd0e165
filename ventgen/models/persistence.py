"""Saving and loading a fitted :class:`ventgen.HTVAE`: the persistence half of the estimator.

A model file is one checkpoint dict (:mod:`ventgen.models.checkpoint` checks every field of it before
anything is built) written atomically by :func:`ventgen.io.checkpoint.write_checkpoint`; training
checkpoints have the same layout plus the trainer's state, so either loads as a model.
"""

from __future__ import annotations

from ..io.checkpoint import read_checkpoint, write_checkpoint
from ._inputs import resolve_device
from .checkpoint import check_checkpoint, load_weights, scaling_from
from .config import HTVAEConfig, field_names
from .stored import model_state, stored_generation, stored_generator

__all__ = ["HTVAEPersistence"]


class HTVAEPersistence:
    """``save``, ``load`` and the restore of fitted attributes from a checkpoint (a mixin of
    :class:`ventgen.HTVAE`, which provides ``_build`` and ``_check_fitted``)."""

    def _write(self, path, overwrite: bool, loop=None, gen_loop=None) -> None:
        write_checkpoint(model_state(self, loop, gen_loop), path, overwrite=overwrite)

    def save(self, path, overwrite: bool = False) -> None:
        """Write the fitted model to ``path`` (atomic; refuses to replace a file unless ``overwrite``)."""
        self._check_fitted()
        self._write(path, overwrite=overwrite)

    @classmethod
    def load(cls, path, device=None) -> "HTVAEPersistence":
        """Load a model written by :meth:`save` (or a training checkpoint) onto ``device`` (default auto).

        The file is read with ``torch.load(weights_only=True)`` and every field is checked first (see
        :mod:`ventgen.models.checkpoint`): a malformed or foreign file is one
        :class:`~ventgen.errors.FileFormatError` naming the file and the field.
        """
        ckpt, params = check_checkpoint(path, read_checkpoint(path))
        model = cls(**params, device="auto" if device is None else device)
        model.config_ = HTVAEConfig(**{k: params[k] for k in field_names()})
        model.device_ = resolve_device(model.device)
        model._restore(path, ckpt)
        model.module_.to(model.device_).eval()
        model.history_ = [dict(h) for h in ckpt.get("history", [])]
        if ckpt.get("trainer") is not None:
            model.training_state_ = ckpt["trainer"]
        return model

    def _restore(self, path, ckpt: dict) -> None:
        """Fitted attributes and checked weights from a checked checkpoint."""
        self.input_shape_ = tuple(int(s) for s in ckpt["input_shape"])
        self.n_samples_ = int(ckpt["n_samples"])
        self.seeds_ = tuple(int(s) for s in ckpt["seeds"])
        self.scaling_ = scaling_from(ckpt["scaling"])
        self.data_sha256_ = ckpt.get("data_sha256")
        self.module_ = load_weights(path, ckpt["model"], lambda: self._build(self.input_shape_, self.seeds_[0]))
        self.generation_ = stored_generation(path, ckpt.get("generation"), self.config_.maps)
        self.generator_ = stored_generator(path, ckpt.get("generator"), self)
        gen_tr = (ckpt.get("generator") or {}).get("trainer")
        if gen_tr is not None:
            self.generator_training_state_ = gen_tr
