"""Train a model from a CycleSet file: the step behind ``ventgen train``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._core import check_random_state
from ..errors import VentgenValueError
from ..io.shards import read_cycles
from ..models._checks import parse_maps
from ..models.config import DEFAULT_PRESET
from ..signals.cycles import CycleSet
from ._lazy import htvae_class

__all__ = ["train_file", "partial_labels", "check_output_paths"]





def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_paths(input_path, output, checkpoint_dir, *, overwrite: bool = False) -> None:
    """Refuse, before any work, a model file or checkpoint folder that could not be written.

    The model file must not be a folder, nor the input file; an existing one needs ``overwrite``; the
    checkpoint folder must be a folder if it exists; the nearest existing folder above each must be
    writable. Missing folders are created when the files are written.
    """
    output = Path(output)
    if output.is_dir():
        raise IsADirectoryError(
            21, "is a folder; -o/output must be the model file to write inside it (e.g. model.pt)", str(output)
        )
    if output.exists() and Path(input_path).exists() and output.resolve() == Path(input_path).resolve():
        raise VentgenValueError(f"{output}: is the input CycleSet; choose another name for the model file")
    if output.exists() and not overwrite:
        raise FileExistsError(17, "exists; pass overwrite=True (or --overwrite) to replace it", str(output))
    ckpt = Path(checkpoint_dir)
    if ckpt.exists() and not ckpt.is_dir():
        raise VentgenValueError(
            f"{ckpt}: exists and is not a folder; per-epoch checkpoints need a folder (--checkpoint-dir)"
        )
    for target in (output, ckpt / "checkpoint.pt"):
        anc = _first_existing(target.parent)
        if not anc.is_dir():
            raise VentgenValueError(f"{target}: cannot be written: {anc} is a file, not a folder")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise PermissionError(13, f"folder not writable (needed for {target.name})", str(anc))


def partial_labels(labels, fraction: float = 1.0, random_state=None) -> np.ndarray:
    """Keep a random ``fraction`` of the known labels, blank ("") the rest.

    Models a partially annotated archive: must-link constraints then come from the kept labels only.

    Examples
    --------
    >>> lab = partial_labels(["a", "b", "", "a"], fraction=0.5, random_state=0)
    >>> int((lab != "").sum())
    2
    """
    lab = np.asarray(labels).astype(str)
    if not 0.0 <= float(fraction) <= 1.0:
        raise VentgenValueError(f"label fraction must be in [0, 1], got {fraction}")
    known = np.flatnonzero(lab != "")
    rng = check_random_state(random_state)
    keep = rng.permutation(known)[: int(round(float(fraction) * known.size))]
    out = np.full(lab.shape, "", dtype=object)
    out[keep] = lab[keep]
    return out


def _training_cycles(cycles_path) -> CycleSet:
    """The CycleSet of ``cycles_path``, refused when it is empty or holds NaN/inf values."""
    cycles = read_cycles(cycles_path)  # a CycleSet file or a shard folder
    if len(cycles) == 0:
        raise VentgenValueError(f"{cycles_path}: the CycleSet holds no cycles")
    bad = ~np.isfinite(np.asarray(cycles.X)).reshape(len(cycles), -1).all(axis=1)
    if bad.any():
        raise VentgenValueError(
            f"{cycles_path}: {int(bad.sum())} of {len(cycles)} cycles hold NaN or infinite values "
            f"(first: cycle {int(np.flatnonzero(bad)[0])}); drop them before training"
        )
    return cycles


def _must_link_labels(cycles: CycleSet, fraction: float, seed, cycles_path) -> np.ndarray:
    """The kept ``fraction`` of the cycles' labels ("" = unknown); at least two are needed."""
    must_link = partial_labels(cycles.labels, fraction, random_state=seed)
    n_linked = int((must_link != "").sum())
    if n_linked < 2:
        raise VentgenValueError(
            f"{cycles_path}: --must-link needs labelled cycles, but only {n_linked} of {len(cycles)} "
            f"have a label (after --label-fraction {fraction})"
        )
    return must_link


def _epoch_line(row: dict, epochs: int, n_maps: int) -> str:
    """One log line per epoch: every loss term and the code usage (perplexity) of each level (for the
    generator's epochs, its flow-matching loss)."""
    if row.get("part") == "generator":
        return f"generator epoch {row['epoch']}/{row['epochs']}: loss={row['loss']:.4g} ({row['time_s']:.1f} s)"
    terms = " ".join(f"{k}={row[k]:.4g}" for k in ("loss", "rec", "hier", "topo", "must_link") if k in row)
    perp = " ".join(f"perplexity_{i}={row[f'perplexity_{i}']:.1f}" for i in range(1, n_maps + 1))
    return f"epoch {row['epoch']}/{epochs}: {terms} {perp} ({row['time_s']:.1f} s)"


def train_file(
    cycles_path,
    output,
    *,
    preset: str = DEFAULT_PRESET,
    maps=None,
    epochs: int | None = None,
    latent_dim: int | None = None,
    must_link_level: int | None = None,
    label_fraction: float = 1.0,
    seed: int | None = None,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_dir=None,
    progress: bool | None = None,
    log=print,
    **params,
) -> dict:
    """Train a :class:`ventgen.HTVAE` on a CycleSet file and save it.

    Parameters
    ----------
    cycles_path : path
        CycleSet HDF5 file (``ventgen segment`` output).
    output : path
        Where to save the model (``.pt``); refused if it exists unless ``overwrite``.
    preset : str
        The configuration the hyper-parameters left None come from (:data:`ventgen.models.config.PRESETS`).
    maps : str or list of (h, w), optional
        "8x8,4x4,2x2" or a list of pairs; level 1 (deepest) first.
    must_link_level : int, optional
        Use the CycleSet's labels as must-link constraints at this level (None: unsupervised).
    label_fraction : float
        Fraction of the labelled cycles whose labels are used (the others count as unknown).
    checkpoint_dir : path, optional
        Per-epoch checkpoints (default: ``<output>.checkpoints/``); ``resume`` continues from there.
    log : callable
        Receives one line per epoch with every loss term and the per-level perplexity.
    **params
        Other :class:`ventgen.HTVAE` parameters (lr, batch_size, rho, sigma_init, ...).

    Returns
    -------
    dict
        ``output``, ``n_cycles``, ``n_linked`` (cycles with a kept label), ``history``.
    """
    # torch, a heavy dependency: `import ventgen` and the other commands stay without it
    HTVAE = htvae_class()

    output = Path(output)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else output.with_name(output.name + ".checkpoints")
    check_output_paths(cycles_path, output, ckpt, overwrite=overwrite)
    maps = parse_maps(maps) if isinstance(maps, str) else maps
    model = HTVAE(maps=maps, epochs=epochs, latent_dim=latent_dim, device=device, random_state=seed,
                  progress=progress, preset=preset, **params)
    cfg = model.validated_config()  # bad parameters are refused before any data is read
    cycles = _training_cycles(cycles_path)
    must_link = None
    if must_link_level is not None:
        must_link = _must_link_labels(cycles, label_fraction, seed, cycles_path)
    n_linked = 0 if must_link is None else int((must_link != "").sum())
    model.fit(
        cycles,
        must_link=must_link,
        must_link_level=must_link_level or 1,
        checkpoint_dir=ckpt,
        resume=resume,
        epoch_callback=lambda row: log(_epoch_line(row, cfg.epochs, len(cfg.maps))),
    )
    model.save(output, overwrite=overwrite)
    return {
        "output": str(output),
        "n_cycles": len(cycles),
        "n_linked": n_linked,
        "history": model.history_,
        "checkpoint_dir": str(ckpt),
    }
