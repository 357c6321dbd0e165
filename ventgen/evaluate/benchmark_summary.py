"""The benchmark's summary: mean and standard deviation over seeds of every run file, as CSV and Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._core import atomic_path
from ..errors import VentgenValueError

__all__ = ["summarize_runs", "summary_markdown", "IMAGE_MODELS", "VENTILATION_MODELS", "BENCHMARK_DATASETS"]

IMAGE_MODELS = ("htvae", "htvae-paper", "som-vae", "vae-hkmeans", "vae-rgmm")
VENTILATION_MODELS = ("htvae", "htvae-mustlink", "htvae-paper", "som-vae", "vae-hkmeans", "vae-rgmm", "ts-hkmeans")
BENCHMARK_DATASETS = ("mnist", "fashion-mnist", "cifar100", "digits", "ventilation")
_METRICS = ("purity", "nmi", "accuracy", "dtree", "dtree_lca")


def summarize_runs(out_dir) -> pd.DataFrame:
    """Mean and std over seeds, per model, level-1 size K_1 and level, of every ``runs/*.csv`` under ``out_dir``.

    Writes ``summary.csv`` and ``summary.md`` in ``out_dir`` (regenerated each call) and returns the
    summary table.
    """
    out_dir = Path(out_dir)
    files = sorted(
        p for p in (out_dir / "runs").glob("*.csv") if not p.name.endswith("_history.csv")
    )
    if not files:
        raise VentgenValueError(f"{out_dir}: no run files under runs/ to summarise")
    runs = pd.concat([_with_k1(pd.read_csv(p)) for p in files], ignore_index=True)
    order = {m: i for i, m in enumerate(VENTILATION_MODELS)}
    rows = []
    for (model, k1, level), g in runs.groupby(["model", "k1", "level"], sort=False):
        row = {
            "model": model,
            "k1": int(k1),
            "level": int(level),
            "K": int(g["K"].iloc[0]),
            "used": float(g["used"].mean()),
            "seeds": int(g["seed"].nunique()),
            "epochs": int(g["epochs_done"].min() if "epochs_done" in g else g["epochs"].iloc[0]),
        }
        for m in _METRICS + ("wall_s",):
            vals = g[m].astype(float)
            row[f"{m}_mean"] = float(vals.mean()) if vals.notna().any() else np.nan
            row[f"{m}_std"] = float(vals.std(ddof=0)) if vals.notna().any() else np.nan
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary["_o"] = summary["model"].map(lambda m: order.get(m, len(order)))
    summary = summary.sort_values(["_o", "k1", "level"]).drop(columns="_o").reset_index(drop=True)
    with atomic_path(out_dir / "summary.csv", overwrite=True) as tmp:
        summary.to_csv(tmp, index=False)
    with atomic_path(out_dir / "summary.md", overwrite=True) as tmp:
        tmp.write_text(summary_markdown(summary))
    return summary


def _with_k1(run: pd.DataFrame) -> pd.DataFrame:
    """A run's table with ``k1``, the number of codes (clusters) of its level 1, on every row."""
    run["k1"] = int(run.loc[run["level"] == 1, "K"].iloc[0])
    return run


def _pm(mean, std, digits=3):
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_markdown(summary: pd.DataFrame) -> str:
    lines = [
        "| model | level | K (used) | purity | NMI | accuracy | Dtree (path) | Dtree (lca) | wall time (s) | seeds | epochs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        lines.append(
            f"| {r.model} | {r.level} | {r.K} ({r.used:.0f}) | {_pm(r.purity_mean, r.purity_std)} | "
            f"{_pm(r.nmi_mean, r.nmi_std)} | {_pm(r.accuracy_mean, r.accuracy_std)} | "
            f"{_pm(r.dtree_mean, r.dtree_std, 2)} | {_pm(r.dtree_lca_mean, r.dtree_lca_std, 2)} | {_pm(r.wall_s_mean, r.wall_s_std, 0)} | {r.seeds} | {r.epochs} |"
        )
    return "\n".join(lines) + "\n"
