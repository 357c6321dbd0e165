"""Model files and training checkpoints on disk: ``torch.save`` and ``torch.load(weights_only=True)``.

Only the bytes live here: :func:`write_checkpoint` writes a dict of tensors and plain containers
atomically, :func:`read_checkpoint` reads one back with ``weights_only=True`` (no object other than
tensors and plain containers is ever built) and turns every failure into one
:class:`~ventgen.errors.FileFormatError` line naming the file. What the dict must hold is checked by the
model that reads it (:mod:`ventgen.models.checkpoint`, pure functions).

Examples
--------
>>> import tempfile, torch
>>> from pathlib import Path
>>> p = Path(tempfile.mkdtemp()) / "m.pt"
>>> write_checkpoint({"w": torch.zeros(2)}, p)
>>> read_checkpoint(p)["w"].shape
torch.Size([2])
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch

from .._core import atomic_path
from ..errors import FileFormatError, VentgenValueError

__all__ = ["write_checkpoint", "read_checkpoint"]

_REFUSED = (
    "not a ventgen model file, or it holds objects other than tensors and plain data "
    "(refused; ventgen never loads model files with weights_only=False)"
)


def write_checkpoint(state: dict, path, *, overwrite: bool = False) -> None:
    """Write ``state`` to ``path`` with ``torch.save``, atomically; refuse to replace a file unless ``overwrite``."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            torch.save(state, tmp)
        except (OSError, RuntimeError) as exc:  # e.g. a full disk; never name the temporary file
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise VentgenValueError(f"{path}: cannot write the model file ({reason})") from None


def read_checkpoint(path):
    """The object stored in ``path``, loaded on the CPU with ``torch.load(weights_only=True)``.

    Raises ``IsADirectoryError`` / ``FileNotFoundError`` / ``PermissionError`` for a path that is not a
    readable file, and :class:`~ventgen.errors.FileFormatError` for a file that is not a checkpoint or
    holds objects other than tensors and plain data.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder; expected a ventgen model file (.pt)", str(path))
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise
    except pickle.UnpicklingError:
        raise FileFormatError(path, _REFUSED) from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise FileFormatError(
            path,
            "not a ventgen model file: truncated, corrupt or not written by torch.save "
            f"({type(exc).__name__}); refused",
        ) from None
