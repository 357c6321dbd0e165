"""Train a model from a CycleSet file: the step behind ``ventgen train``.

Two ways beyond one process and one memory (issue 18):

* ``stream=True`` reads a shard folder (``ventgen segment ... -o cycles/``) chunk by chunk through
  :class:`ventgen.io.stream.ShardStream` instead of loading it: the training set may exceed memory.
* under ``torchrun`` (or with ``ddp=True``) every process joins the process group that torchrun
  describes in its environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...): gloo on
  CPU, nccl on GPU (process ``LOCAL_RANK`` on GPU ``LOCAL_RANK``), and the model trains with
  DistributedDataParallel (:mod:`ventgen.models.ddp`). Rank 0 logs, writes the checkpoints and the
  model file; the others return after the HTVAE's epochs.
"""

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

__all__ = ["train_file", "partial_labels", "check_output_paths", "init_distributed", "launched_by_torchrun"]

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


def _torch_distributed():
    """``torch.distributed`` on first use (``import ventgen`` and the other commands stay without torch)."""
    import torch.distributed as dist

    return dist


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (its environment names a rank and a world size)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def init_distributed(device: str = "auto") -> tuple[int, int, str]:
    """Join the process group torchrun describes; returns ``(rank, world_size, device)``.

    The backend is nccl when the device is CUDA (``"auto"`` with a GPU, ``"cuda"``), gloo otherwise;
    on CUDA each process takes GPU ``LOCAL_RANK``. An already initialised group is reused.
    """
    if not launched_by_torchrun():
        raise VentgenValueError(
            "--ddp needs the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK): launch with "
            "'torchrun --nproc_per_node=N -m ventgen.cli train ...'")
    dist = _torch_distributed()
    import torch

    local = int(os.environ["LOCAL_RANK"])
    cuda = device in ("auto", "cuda") and torch.cuda.is_available() or str(device).startswith("cuda:")
    if device == "cuda" and not torch.cuda.is_available():
        raise VentgenValueError("device 'cuda' was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    if cuda:
        device = f"cuda:{local}" if device in ("auto", "cuda") else device
        torch.cuda.set_device(torch.device(device))
    else:
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def _training_stream(cycles_path, buffer_cycles: int, rank: int = 0, world: int = 1):
    """A :class:`~ventgen.io.stream.ShardStream` of a shard folder (torch on first use); each of ``world``
    processes checks the SHA-256 of its part of the shards."""
    from ..io.stream import ShardStream

    if not Path(cycles_path).is_dir():
        raise VentgenValueError(f"{cycles_path}: --stream reads a shard folder (ventgen segment ... -o cycles/), "
                                "not a single CycleSet file")
    return ShardStream(cycles_path, buffer_size=buffer_cycles, chunk_size=min(1024, buffer_cycles),
                       verify=(rank, world))


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
    stream: bool = False,
    buffer_cycles: int = 8192,
    ddp: bool | None = None,
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
    stream : bool
        Read the shard folder ``cycles_path`` in chunks (a training set larger than memory; no must-link).
    buffer_cycles : int
        With ``stream``: cycles in the shuffle buffer (with one chunk, what the reader holds).
    ddp : bool, optional
        Train with DistributedDataParallel in the process group torchrun describes (None: when launched
        by torchrun). Only rank 0 writes the model.
    **params
        Other :class:`ventgen.HTVAE` parameters (lr, batch_size, rho, sigma_init, ...).

    Returns
    -------
    dict
        ``output``, ``n_cycles``, ``n_linked`` (cycles with a kept label), ``history``, ``rank``,
        ``world_size``.
    """
    # torch, a heavy dependency: `import ventgen` and the other commands stay without it
    HTVAE = htvae_class()

    output = Path(output)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else output.with_name(output.name + ".checkpoints")
    check_output_paths(cycles_path, output, ckpt, overwrite=overwrite)
    maps = parse_maps(maps) if isinstance(maps, str) else maps
    if stream and must_link_level is not None:
        raise VentgenValueError("--must-link needs the cycles in memory; it cannot be combined with --stream")
    ddp = launched_by_torchrun() if ddp is None else bool(ddp)
    rank, world = 0, 1
    if ddp:
        rank, world, device = init_distributed(device)
    model = HTVAE(maps=maps, epochs=epochs, latent_dim=latent_dim, device=device, random_state=seed,
                  progress=progress if rank == 0 else False, preset=preset, **params)
    cfg = model.validated_config()  # bad parameters are refused before any data is read
    cycles = _training_stream(cycles_path, buffer_cycles, rank, world) if stream else _training_cycles(cycles_path)
    must_link = None
    if must_link_level is not None:
        must_link = _must_link_labels(cycles, label_fraction, seed, cycles_path)
    n_linked = 0 if must_link is None else int((must_link != "").sum())
    try:
        model.fit(
            cycles,
            must_link=must_link,
            must_link_level=must_link_level or 1,
            checkpoint_dir=ckpt,
            resume=resume,
            epoch_callback=lambda row: log(_epoch_line(row, cfg.epochs, len(cfg.maps))),
            ddp=ddp,
        )
        if rank == 0:
            model.save(output, overwrite=overwrite)
    finally:
        if ddp and _torch_distributed().is_initialized():
            _torch_distributed().destroy_process_group()
    return {
        "output": str(output),
        "n_cycles": cycles.n if stream else len(cycles),
        "n_linked": n_linked,
        "history": model.history_,
        "checkpoint_dir": str(ckpt),
        "rank": rank,
        "world_size": world,
    }
