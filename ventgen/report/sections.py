"""The sections of the standard run report, one function each, in page order.

Each function takes the :class:`ReportInputs` (the normalised inputs, the random generator and the
state earlier sections leave for later ones) and adds its section to the :class:`RunReport` when its
inputs are there. The random generator is used in page order, so a seed gives the same figures and
the same ``metrics.json``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate.fidelity import discriminative_table, ks_table
from ..evaluate.nodes import ordered_classes
from ..generate.labelling import node_label_table
from ..io.fidelity import BREATHS_FIGURE
from ..labels import VENTILATION_TREE
from ..signals.segment import segment_breaths
from ..viz import (
    METADATA_COLUMNS,
    plot_generated_vs_real,
    plot_learned_tree,
    plot_metadata_by_class,
    plot_metadata_distributions,
    plot_reconstructions,
    plot_recording_excerpt,
    plot_som_levels,
    plot_training_curves,
)
from .format import flatten, fmt, is_num, to_jsonable
from .inputs import ReportInputs, _get
from .labels import metric_label, tile_values
from .page import RunReport

__all__ = ["SECTIONS"]

_EXCERPT_S = 90.0  # seconds of signal in the recording excerpts


def _metadata_channels(channels, C):
    if channels is None:
        return None
    ch = [str(c) for c in channels]
    return ch if len(ch) == C else None


def _is_ventilation(labels: np.ndarray) -> bool:
    present = set(np.unique(labels).tolist()) - {""}
    return bool(present) and present <= set(VENTILATION_TREE.classes)


def _label_counts(labels: np.ndarray) -> pd.DataFrame:
    classes = ordered_classes(labels)
    n = np.array([(labels == c).sum() for c in classes])
    return pd.DataFrame({"class": [c or "(unlabelled)" for c in classes], "breaths": n,
                         "share [%]": np.round(100 * n / max(1, n.sum()), 1)})


def _node_classes(assign_1: np.ndarray, labels: np.ndarray, maps) -> pd.DataFrame:
    """Level-1 nodes: breaths, majority class (ventgen's one node-labelling rule,
    :func:`ventgen.generate.labelling.node_label_table`) and its share of all the node's breaths (a node
    of unlabelled breaths only counts as pure)."""
    tab = node_label_table(assign_1[:, None], labels, [maps[0]])
    n = tab["n_breaths"].to_numpy()
    n_lab = tab["n_labelled"].to_numpy()
    majority = np.where(n_lab > 0, np.rint(np.nan_to_num(tab["purity"].to_numpy()) * n_lab), n).astype(float)
    return pd.DataFrame({"node": tab["node"].to_numpy(), "n": n, "majority": tab["label"].to_numpy(),
                         "purity": np.where(n > 0, majority / np.maximum(n, 1), np.nan)})


def _excerpt_start(recording, duration_s: float, lead_s: float = 20.0) -> float:
    """Start (s) of an excerpt that shows the first annotated event, ``lead_s`` after the excerpt start.

    Without events (or annotations without labels: their first interval) the excerpt starts at 0; it
    never runs past the end of the recording.
    """
    ann = getattr(recording, "annotations", None)
    start = 0.0
    if ann is not None and len(ann):
        ev = ann[ann["label"].astype(str) != "normal breathing"] if "label" in ann else ann
        if len(ev):
            start = max(0.0, float(ev["start_s"].iloc[0]) - lead_s)
    dur = float(getattr(recording, "duration_s", 1e9))
    return min(start, max(0.0, dur - duration_s))


def _excerpt(ctx: ReportInputs, recording, name: str, caption: str) -> None:
    start = _excerpt_start(recording, _EXCERPT_S)
    ctx.rep.figure(plot_recording_excerpt(recording, start_s=start, duration_s=_EXCERPT_S), name, caption=caption)


# ----------------------------------------------------------------------------- sections
def overview(ctx: ReportInputs) -> None:
    """Notes, the key numbers as tiles (human labels), the configuration."""
    rep = ctx.rep
    rep.section("Overview")
    if ctx.notes:
        for para in [ctx.notes] if isinstance(ctx.notes, str) else ctx.notes:
            rep.text(para)
    summary = _overview_numbers(ctx)
    if ctx.metrics:
        rep.metrics(ctx.metrics)
        flat = {k: v for k, v in flatten(to_jsonable(ctx.metrics)).items() if is_num(v)}
        summary.update(tile_values(flat))
    if summary:
        rep.tiles(summary)
    if ctx.config:
        rep.metrics({"config": ctx.config})
        rep.table(pd.DataFrame({"setting": list(map(str, ctx.config)), "value": [fmt(v) for v in ctx.config.values()]}),
                  caption="Configuration of the run")
    if not (ctx.notes or summary or ctx.config):
        rep.text("No inputs were given to the report.")


def _overview_numbers(ctx: ReportInputs) -> dict:
    summary: dict = {}
    if ctx.cyc is not None:
        summary["breath cycles"] = int(ctx.cyc["X"].shape[0])
        if ctx.cyc["subjects"] is not None:
            summary["subjects"] = int(len(np.unique(np.asarray(ctx.cyc["subjects"]).astype(str))))
    if ctx.maps is not None:
        summary["SOM levels"] = len(ctx.maps)
        summary["codes, level 1"] = int(ctx.maps[0][0] * ctx.maps[0][1])
    if ctx.history:
        summary["epochs"] = len(ctx.history)
    if ctx.recs:
        summary["virtual patients"] = len(ctx.recs)
    if ctx.manifest is not None and len(ctx.manifest):
        summary["generated breaths"] = int(len(ctx.manifest))
    return summary


def data(ctx: ReportInputs) -> None:
    """Breath cycles and classes, an excerpt of a real recording."""
    cyc, rep = ctx.cyc, ctx.rep
    if cyc is None and ctx.recording is None:
        return
    rep.section("Data")
    if cyc is not None:
        X, rate = cyc["X"], cyc["sampling_rate"]
        rep.text(
            f"{X.shape[0]:,} breath cycles of {X.shape[1]} channel(s) × {X.shape[2]} samples"
            + (f" at {float(rate):g} Hz" if rate else "") + ", edge-padded to a common length.")
        if cyc["labels"] is not None:
            rep.table(_label_counts(cyc["labels"]), caption="Breaths per class")
    if ctx.recording is not None:
        ctx.attempt("the recording excerpt", lambda: _excerpt(
            ctx, ctx.recording, "recording_excerpt",
            "A 90-second excerpt of a recording: flow and airway pressure, annotated events shaded in their class colour."))


def hierarchy(ctx: ReportInputs) -> None:
    """Each SOM level coloured by class, the learned tree, node purity, per-level metrics."""
    model, maps, cyc, rep = ctx.model, ctx.maps, ctx.cyc, ctx.rep
    if not (model is not None and maps is not None and cyc is not None and hasattr(model, "assign")):
        if ctx.level_report is not None:
            rep.section("Learned hierarchy")
            rep.table(ctx.level_report, caption="Clustering metrics per level (K = number of codes)")
        return
    rep.section("Learned hierarchy")
    X = cyc["X"]
    ctx.sub_idx = (np.sort(ctx.rng.choice(X.shape[0], size=ctx.max_cycles, replace=False))
                   if X.shape[0] > ctx.max_cycles else np.arange(X.shape[0]))
    ctx.assign = ctx.attempt("the node assignments", lambda: np.asarray(model.assign(X[ctx.sub_idx])))
    if ctx.assign is not None:
        _hierarchy_figures(ctx, cyc["labels"][ctx.sub_idx] if cyc["labels"] is not None else None)
    if ctx.level_report is not None:
        rep.table(ctx.level_report, caption="Clustering metrics per level (K = number of codes)")


def _hierarchy_figures(ctx: ReportInputs, lab) -> None:
    rep, assign, maps = ctx.rep, ctx.assign, ctx.maps
    rep.text(
        "Every SOM level drawn as its lattice: each node is a pie of the classes of the breaths "
        "assigned to it (radius grows with the node's share of the breaths; hatched cells hold none). "
        "Level 1 is the deepest and largest map; each code's parent is its nearest code one level up.")
    ctx.attempt("the SOM level figure", lambda: rep.figure(
        plot_som_levels(assign, lab, maps), "som_levels",
        caption="SOM levels coloured by class proportions (compare Figure 1 of the HTVAE paper)."))
    if lab is not None and _is_ventilation(lab):
        sup = np.where(lab == "", "", VENTILATION_TREE.map(np.where(lab == "", VENTILATION_TREE.classes[0], lab), 1))
        ctx.attempt("the super-class SOM figure", lambda: rep.figure(
            plot_som_levels(assign, sup, maps), "som_levels_superclass",
            caption="The same levels coloured by super-class (normal breathing, respiratory event, "
                    "movement): coarser levels should separate these."))
    tree = getattr(ctx.model, "tree_", None)
    if tree is not None and len(maps) > 1:
        ctx.attempt("the learned tree", lambda: rep.figure(
            plot_learned_tree(tree, maps, assignments=assign, labels=lab), "learned_tree",
            caption="The learned tree: level-1 codes at the bottom, the virtual root on top; nodes "
                    "coloured by their majority class and sized by their number of breaths."))
    if lab is not None:
        nodes = _node_classes(assign[:, 0], lab, maps)
        used = nodes[nodes["n"] > 0]
        rep.metrics({"nodes_used_level_1": int(len(used)),
                     "mean_node_purity_level_1": float(np.average(used["purity"], weights=used["n"])) if len(used) else None})


def reconstructions(ctx: ReportInputs) -> None:
    """Breaths of different classes reconstructed from every level; the error per level and channel."""
    model = ctx.model
    if not (model is not None and ctx.maps is not None and ctx.cyc is not None and hasattr(model, "reconstruct")):
        return
    ctx.rep.section("Reconstructions")
    ctx.attempt("the reconstructions", lambda: _reconstructions(ctx))


def _pick_breaths(ctx: ReportInputs, X, lab, k: int) -> np.ndarray:
    """k breaths to show: one of each of k different classes where possible."""
    rng = ctx.rng
    if lab is None:
        return np.array(list(rng.choice(X.shape[0], size=k, replace=False)), dtype=np.int64)
    classes = [c for c in ordered_classes(lab) if c != ""]
    chosen = rng.permutation(len(classes))[:k] if classes else []
    pick = [int(rng.choice(np.flatnonzero(lab == classes[j]))) for j in chosen]
    rest = np.setdiff1d(np.arange(X.shape[0]), pick)
    return np.array(pick + list(rng.choice(rest, size=k - len(pick), replace=False)), dtype=np.int64)


def _reconstructions(ctx: ReportInputs) -> None:
    model, maps, rep = ctx.model, ctx.maps, ctx.rep
    src = ctx.test if ctx.test is not None else ctx.cyc
    X, lab = src["X"], src["labels"]
    k = min(ctx.n_reconstructions, X.shape[0])
    pick = _pick_breaths(ctx, X, lab, k)
    xs = X[pick]
    recon = [np.asarray(model.reconstruct(xs, level=i)) for i in range(len(maps) + 1)]
    fig = plot_reconstructions(xs, recon, n_show=k, sampling_rate=src["sampling_rate"],
                               channels=_metadata_channels(src["channels"], X.shape[1]))
    if lab is not None:
        for j, ax in enumerate(fig.axes[:k]):
            ax.set_title(f"{lab[pick[j]]}" or f"breath {j + 1}", fontsize=10)
    which = "held-out" if ctx.test is not None else "training"
    rep.figure(fig, "reconstructions",
               caption=f"Original {which} breaths (black) and their reconstructions from the continuous "
                       "latent z0 and from the code of every level: coarser levels keep less detail.")
    m = min(512, X.shape[0])  # the error over a larger sample, per channel
    idx = np.sort(ctx.rng.choice(X.shape[0], size=m, replace=False))
    names = _metadata_channels(src["channels"], X.shape[1]) or [f"channel {c}" for c in range(X.shape[1])]
    rows = []
    for i in range(len(maps) + 1):
        r = np.asarray(model.reconstruct(X[idx], level=i))
        err = np.sqrt(np.mean((r - X[idx]) ** 2, axis=(0, 2)))
        rows.append({"decoded from": f"level {i}" if i else "z0 (continuous)",
                     **{f"RMSE {n}": float(e) for n, e in zip(names, err, strict=True)}})
    rep.table(pd.DataFrame(rows), caption=f"Reconstruction error (root mean square, original units) over {m} {which} breaths")
    rep.metrics({"reconstruction_rmse": {r["decoded from"]: {k2: v for k2, v in r.items() if k2 != "decoded from"}
                                         for r in rows}})


def training(ctx: ReportInputs) -> None:
    """Loss terms and code usage per epoch; the last epoch's numbers."""
    if not ctx.history:
        return
    ctx.rep.section("Training")
    ctx.attempt("the training curves", lambda: ctx.rep.figure(
        plot_training_curves(ctx.history), "training_curves",
        caption="Loss terms per epoch (log scale when they span more than a factor 20) and the perplexity "
                "of the code usage per level (higher = more codes in use)."))
    last = ctx.history[-1]
    ctx.rep.metrics({"final_epoch": to_jsonable({k: v for k, v in last.items() if is_num(v)})})


def _sample(ctx: ReportInputs):
    """Breaths sampled from the model at the level-1 node with the most breaths of each class."""
    lab = ctx.cyc["labels"][ctx.sub_idx]
    nodes = _node_classes(ctx.assign[:, 0], lab, ctx.maps)
    xs, ys = [], []
    for cls in ordered_classes(lab):
        if cls == "":
            continue
        mine = nodes[nodes["majority"] == cls]
        if not len(mine):
            continue
        node = int(mine.sort_values("n", ascending=False)["node"].iloc[0])
        s = np.asarray(ctx.model.sample(1, node, ctx.n_per_class, random_state=int(ctx.rng.integers(2**31))))
        xs.append(s)
        ys += [cls] * len(s)
    return (np.concatenate(xs), np.array(ys, dtype=object)) if xs else (None, None)


def generation(ctx: ReportInputs) -> None:
    """Generated breaths of each class beside real ones (given, or sampled from the model)."""
    cyc, model = ctx.cyc, ctx.model
    gen_X, gen_y = None, None
    if ctx.synthetic is not None:
        gen_X, gen_y = ctx.synthetic["X"], ctx.synthetic["labels"]
    elif (model is not None and ctx.assign is not None and cyc is not None and cyc["labels"] is not None
          and hasattr(model, "sample")):
        res = ctx.attempt("samples from the model", lambda: _sample(ctx))
        if res is not None:
            gen_X, gen_y = res
    if gen_X is None or cyc is None or cyc["labels"] is None or gen_y is None:
        return
    ctx.rep.section("Generated breaths")
    ctx.rep.text("Generated breaths of each class (dashed, right) beside real breaths of the same class "
                 "(solid, left), on the same axes; the bold line is the pointwise median.")
    ctx.attempt("the generated-vs-real figure", lambda: ctx.rep.figure(
        plot_generated_vs_real(cyc["X"], cyc["labels"], gen_X, gen_y, n_per_class=ctx.n_per_class,
                               sampling_rate=cyc["sampling_rate"],
                               channels=_metadata_channels(cyc["channels"], cyc["X"].shape[1]),
                               random_state=ctx.rng),
        "generated_vs_real", caption="Real and generated breaths per class."))


def cohort(ctx: ReportInputs) -> None:
    """The virtual cohort: composition requested vs achieved, generation settings, an excerpt."""
    if not ctx.recs and ctx.manifest is None:
        return
    rep, manifest = ctx.rep, ctx.manifest
    rep.section("Virtual cohort")
    comp_fn = getattr(ctx.cohort, "composition", None)
    if callable(comp_fn):
        ctx.attempt("the composition table", lambda: _composition(rep, comp_fn()))
    info = _get(ctx.cohort, "info")
    if isinstance(info, Mapping):
        nums = {k: v for k, v in info.items() if is_num(v) or isinstance(v, str)}
        if nums:
            rep.table(nums, caption="Generation")
            rep.metrics({"cohort_info": nums})
    if manifest is not None and len(manifest) and "label" in manifest:
        comp = manifest["label"].astype(str).value_counts(normalize=True)
        comp_df = pd.DataFrame({"class": comp.index, "share of breaths [%]": np.round(100 * comp.to_numpy(), 1),
                                "breaths": manifest["label"].astype(str).value_counts().reindex(comp.index).to_numpy()})
        rep.table(comp_df, caption="Breaths per class in the generated cohort")
        rep.metrics({"cohort_composition": {str(k): float(v) for k, v in comp.items()}})
    if ctx.recs:
        rec0 = ctx.recs[0]
        ctx.attempt("the virtual patient excerpt", lambda: _excerpt(
            ctx, rec0, "virtual_patient", "A 90-second excerpt of a generated virtual patient, generated events shaded."))


def _composition(rep: RunReport, comp: pd.DataFrame) -> None:
    rep.table(comp, caption="Composition: requested vs achieved share of breaths per entry of the spec")
    if "difference" in comp:
        rep.metrics({"composition_max_abs_error": float(np.abs(comp["difference"]).max())})


def _fidelity_parts(ctx: ReportInputs) -> tuple:
    """(tables, metrics, headline tiles, figure files, discriminative scores) of the fidelity input;
    its real and synthetic breath tables go to ``ctx`` (the explicit ones win)."""
    fidelity = ctx.fidelity
    if isinstance(fidelity, pd.DataFrame):
        fdict = {"fidelity": fidelity}
    elif isinstance(fidelity, Mapping):
        fdict = dict(fidelity)
    elif callable(getattr(fidelity, "to_dict", None)):
        fdict = dict(fidelity.to_dict())
    else:
        fdict = dict(vars(fidelity))
    summ = fidelity.summary() if callable(getattr(fidelity, "summary", None)) else fdict.get("summary")
    tables: dict[str, pd.DataFrame] = {}
    metrics: dict = {}
    images: list[Path] = []
    for k, v in fdict.items():
        k = str(k)
        if isinstance(v, pd.DataFrame):
            if k == "real_breaths":
                ctx.real_breaths = v if ctx.real_breaths is None else ctx.real_breaths
            elif k == "synthetic_breaths":
                ctx.synthetic_breaths = v if ctx.synthetic_breaths is None else ctx.synthetic_breaths
            elif not (k == "composition" and callable(getattr(ctx.cohort, "composition", None))):
                tables[k] = v
        elif k == "figures" and isinstance(v, (list, tuple)):
            images = [Path(f) for f in v if str(f).lower().endswith((".png", ".jpg", ".jpeg"))]
        elif is_num(v) or isinstance(v, (str, bool)) or v is None:
            metrics[k] = v
        elif isinstance(v, Mapping):
            metrics[k] = {kk: vv for kk, vv in flatten(v).items()
                          if is_num(vv) or isinstance(vv, (str, bool)) or vv is None}
    source = summ if isinstance(summ, Mapping) else metrics
    headline = {metric_label(k): v for k, v in source.items() if is_num(v)}
    return tables, metrics, headline, images, discriminative_table(fdict)


def _synthetic_breaths(ctx: ReportInputs):
    """Breath tables of the first virtual patients, found with :func:`ventgen.segment_breaths`."""
    return pd.concat([segment_breaths(r) for r in ctx.recs[:5]], ignore_index=True)


def fidelity(ctx: ReportInputs) -> None:
    """Real vs synthetic: the discriminative scores (both classifiers, floor, ceiling), a few breaths of
    every class side by side, metadata distributions with KS, the fidelity numbers and tables."""
    tables, metrics, headline, images, disc = {}, {}, {}, [], pd.DataFrame()
    if ctx.fidelity is not None:
        tables, metrics, headline, images, disc = _fidelity_parts(ctx)
    if ctx.real_breaths is None and ctx.cyc is not None and isinstance(ctx.cyc["breaths"], pd.DataFrame):
        ctx.real_breaths = ctx.cyc["breaths"]
    if ctx.synthetic_breaths is None and ctx.recs and ctx.real_breaths is not None:
        ctx.synthetic_breaths = ctx.attempt("the segmentation of the virtual patients", lambda: _synthetic_breaths(ctx))
    both = ctx.real_breaths is not None and ctx.synthetic_breaths is not None
    if not (metrics or tables or images or both):
        return
    rep = ctx.rep
    rep.section("Fidelity")
    if headline:
        rep.tiles(headline)
    if len(disc):
        rep.table(disc, caption=_DISCRIMINATIVE_CAPTION, compact=False)
    breaths = [p for p in images if p.name == BREATHS_FIGURE]
    if breaths:
        ctx.attempt("the figure of real and generated breaths", lambda: rep.image(
            breaths[0], "breaths_real_vs_generated",
            caption="A few real breaths (left) and generated breaths (right) of every class, flow and "
                    "pressure, each drawn up to its own length; both panels of a row share their axes."))
        images = [p for p in images if p.name != BREATHS_FIGURE]
    if both:
        ctx.attempt("the metadata distributions", lambda: _distributions(ctx))
    for name, df in tables.items():
        rep.table(df, caption=name.replace("_", " "), max_rows=500)
    if images:
        where = sorted({os.path.relpath(p.parent, rep.out_dir) if p.is_absolute() == rep.out_dir.is_absolute()
                        else str(p.parent) for p in images})
        rep.note(f"The fidelity evaluation also wrote {len(images)} figure(s) in `{', '.join(where)}`.")
    if metrics:
        rep.metrics({"fidelity": metrics})


_DISCRIMINATIVE_CAPTION = (
    "Discriminative score |accuracy − 0.5| of a classifier telling real from generated breaths (5-fold, "
    "class-matched, balanced; 0 = indistinguishable, 0.5 = trivially separable): against the generated "
    "breaths, between two random halves of the real breaths (the floor: a perfect generator's score), "
    "against the model's reconstructions of the real breaths (the ceiling, when the model was given) and "
    "between the real breaths of half the subjects and the other half's (what new real subjects score); "
    "each with at most as many breaths of each class as the generated side (scores grow with the breaths compared)")


def _distributions(ctx: ReportInputs) -> None:
    rep, real, syn = ctx.rep, ctx.real_breaths, ctx.synthetic_breaths
    columns = [c for c in METADATA_COLUMNS if c in real.columns and c in syn.columns]
    ks = ks_table(real, syn, columns=columns, min_count=1)
    rep.figure(plot_metadata_distributions(real, syn, ks), "metadata_distributions",
               caption="Breath metadata of real breaths (grey) and synthetic breaths (orange): "
                       "two-sample Kolmogorov–Smirnov statistic in each title (0 = same distribution).")
    rep.table(ks.drop(columns="label"), caption="Real vs synthetic breath metadata, all classes together")
    if "label" in real.columns and "label" in syn.columns:
        ctx.attempt("the per-class metadata figure", lambda: rep.figure(
            plot_metadata_by_class(real, syn, ks_table(real, syn, real["label"], syn["label"], columns=columns,
                                                       min_count=1)),
            "metadata_by_class",
            caption="The same quantities per class: real (grey) and synthetic (class colour), "
                    "KS statistic of each class and quantity in the panel titles."))
    finite = ks["ks"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    rep.metrics({"ks": {r.column: r.ks for r in ks.itertuples()},
                 "median_ks": float(np.median(finite)) if finite.size else None})


def extra_tables(ctx: ReportInputs) -> None:
    """Tables given by the caller, in a section of their own."""
    if ctx.tables:
        ctx.rep.section("Tables")
        for name, df in ctx.tables.items():
            ctx.rep.table(df, caption=str(name))


def all_metrics(ctx: ReportInputs) -> None:
    """Every number of the page (the problems met included), as in ``metrics.json``."""
    rep = ctx.rep
    if ctx.problems:
        rep.metrics({"report_problems": ctx.problems})
    if rep.metrics_dict:
        rep.section("All metrics", "Every number of this page, also in `metrics.json` beside it.")
        flat = flatten(rep.metrics_dict)
        rep.table(pd.DataFrame({"metric": list(flat), "label": [metric_label(k) for k in flat],
                                "value": [fmt(v) for v in flat.values()]}),
                  caption=f"All {len(flat)} metrics")


#: The sections in page order.
SECTIONS = (overview, data, hierarchy, reconstructions, training, generation, cohort, fidelity, extra_tables,
            all_metrics)
