"""Resolution of a cohort composition into nodes, and the exact integer breath counts.

A fine class maps to the nodes of the chosen level whose majority label it is, weighted by how many
of the class's reference breaths each holds; a super-class to the nodes whose majority label is one
of its members; an explicit node to itself. With ``nodes="members"`` a class draws from every node
holding at least ``min_members`` of its reference breaths. ``"unlabelled"`` names the reference
breaths without a label (always by members: labels decide majorities). The natural composition is
the reference's own classes (:func:`natural_composition`). Per-patient, per-entry breath counts are
exact integers (largest remainder, with row and column sums both exact).

Examples
--------
>>> import numpy as np
>>> largest_remainder(np.array([0.5, 0.25, 0.25]), 7).tolist()
[3, 2, 2]
>>> count_matrix(np.array([0.5, 0.5]), np.array([3, 3])).tolist()
[[2, 1], [1, 2]]
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._core.limits import MAX_COHORT_BREATHS
from ..errors import VentgenValueError, VentgenWarning
from .labelling import UNLABELLED, NodeStats, label_table, node_stats
from .reference import NodePools, generation_source
from .spec import CohortSpec, CompositionEntry, read_cohort_spec

__all__ = ["Resolved", "natural_composition", "resolve", "resolve_spec", "resolve_composition", "largest_remainder", "count_matrix",
           "breaths_per_patient", "NODE_CHOICES"]

#: Which nodes a named class draws from (``"auto"`` follows the latent source).
NODE_CHOICES = ("auto", "majority", "members")


@dataclass
class Resolved:
    """One composition entry, resolved to nodes of one level."""

    entry: CompositionEntry
    level: int
    nodes: np.ndarray  # node ids at `level`
    weights: np.ndarray  # sums to 1
    node_labels: np.ndarray  # label of each node (str)
    run_label: str  # label whose run lengths shape the events


def _lookup_name(name: str, st: NodeStats):
    """('class' | 'super', canonical name) or None."""
    fine = {c.casefold(): c for c in st.classes}
    supers = {}
    if st.tree.n_levels > 1:
        for c in st.classes:
            if c in st.tree.classes:
                s = st.tree.ancestor(c, 1)
                supers.setdefault(s.casefold(), s)
    key = name.strip().casefold()
    if key in fine:
        return "class", fine[key]
    if key in supers:
        return "super", supers[key]
    # tolerate a plural/singular slip ("respiratory events")
    for alt in (key.rstrip("s"), key + "s"):
        if alt in fine:
            return "class", fine[alt]
        if alt in supers:
            return "super", supers[alt]
    return None


def _superclasses(st: NodeStats) -> list:
    if st.tree.n_levels < 2:
        return []
    return sorted({st.tree.ancestor(c, 1) for c in st.classes if c in st.tree.classes})


def _available(st: NodeStats) -> str:
    lv = ", ".join(f"{i + 1} ({h}x{w}={h * w} nodes, ids 0..{h * w - 1})" for i, (h, w) in enumerate(st.maps))
    unl = f" (and {UNLABELLED!r}, the breaths without one)" if _unlabelled_counts(st, 1).any() else ""
    return (f"fine classes: {st.classes}{unl}; super-classes: {_superclasses(st)}; explicit nodes "
            f"{{\"level\": L, \"node\": k}} with levels {lv}")


def natural_composition(spec: CohortSpec, st: NodeStats) -> CohortSpec:
    """``spec`` with its natural composition made explicit; other specs as they are.

    The natural composition is the reference breaths' own: with labels, one class entry per class
    (``"unlabelled"`` for the breaths without one) weighted by how many breaths it has, each drawn
    from the nodes that hold its breaths (``nodes="members"``, the default with the data's latents), so
    that classes and nodes both keep their reference proportions and every breath keeps its own
    class; without labels, one node entry per node of the top level (the coarsest map) that holds
    reference breaths, weighted by how many it holds.

    Examples
    --------
    >>> import numpy as np
    >>> from ventgen.labels import flat_tree
    >>> from ventgen.generate.labelling import count_labels
    >>> st = count_labels(np.array([[0, 0], [1, 0], [2, 1], [3, 1]]), np.array([""] * 4), [(2, 2), (1, 2)],
    ...                   flat_tree(["?"]))
    >>> spec = natural_composition(read_cohort_spec({"patients": 1, "breaths": 10}), st)
    >>> [(e.key, e.fraction) for e in spec.composition]
    [('level 2 node 0', 0.5), ('level 2 node 1', 0.5)]
    >>> st = count_labels(np.array([[0, 0], [1, 0], [2, 1], [3, 1]]), np.array(["a", "a", "b", ""]),
    ...                   [(2, 2), (1, 2)], flat_tree(["a", "b"]))
    >>> [(e.key, e.fraction) for e in natural_composition(read_cohort_spec({"patients": 1, "breaths": 10}),
    ...                                                   st).composition]
    [('a', 0.5), ('b', 0.25), ('unlabelled', 0.25)]
    """
    if not spec.natural:
        return spec
    M = len(st.maps)
    n = np.bincount(st.assign[:, M - 1], minlength=int(np.prod(st.maps[M - 1])))
    if not st.classes:
        entries = tuple(CompositionEntry(fraction=float(n[k] / n.sum()), level=M, node=int(k))
                        for k in np.flatnonzero(n))
        return dataclasses.replace(spec, composition=entries)
    per_class = st.counts[M - 1].sum(axis=0)
    n_unlabelled = int(n.sum() - per_class.sum())
    entries = [CompositionEntry(fraction=float(c / n.sum()), name=name)
               for name, c in zip(st.classes, per_class, strict=True) if c]
    if n_unlabelled:
        entries.append(CompositionEntry(fraction=n_unlabelled / float(n.sum()), name=UNLABELLED))
    return dataclasses.replace(spec, composition=tuple(entries))


def resolve_spec(spec: CohortSpec, st: NodeStats, table: pd.DataFrame, nodes: str = "majority") -> tuple:
    """(spec with its composition made explicit, its :class:`Resolved` entries): a natural composition's
    classes always draw from the nodes that hold them (``nodes="members"``: a class need not be the
    majority of any node to keep its natural share)."""
    natural = spec.natural
    spec = natural_composition(spec, st)
    return spec, resolve(spec, st, table, nodes="members" if natural else nodes)


def _unlabelled_counts(st: NodeStats, level: int) -> np.ndarray:
    """(K,) how many reference breaths without a label each node of ``level`` holds."""
    c = st.counts[level - 1]
    return np.bincount(st.assign[:, level - 1], minlength=c.shape[0]) - c.sum(axis=1)


def resolve(spec: CohortSpec, st: NodeStats, table: pd.DataFrame, nodes: str = "majority",
            min_members: int = 3) -> list:
    """Every composition entry as a :class:`Resolved`; one error listing every entry that fails."""
    problems = []
    out = []
    M = len(st.maps)
    for e in spec.composition:
        level = e.level if e.level is not None else spec.level
        if not 1 <= level <= M:
            problems.append(f"{e.key}: level {level} does not exist (levels 1..{M})")
            continue
        labs = table[table.level == level].sort_values("node")["label"].to_numpy().astype(str)
        if e.is_node:
            r = _resolve_node(e, level, st, labs, problems)
        elif e.name.strip().casefold() == UNLABELLED and _unlabelled_counts(st, level).any():
            r = _resolve_unlabelled(e, level, st, min_members)
        else:
            found = _lookup_name(e.name, st)
            if found is None:
                # (as before the move: no suggestion at all with a one-level class tree)
                names = st.classes + _superclasses(st) if st.tree.n_levels > 1 else []
                close = difflib.get_close_matches(e.name, names, n=2)
                problems.append(f"unknown class {e.name!r}" + (f" (did you mean {close}?)" if close else ""))
                continue
            resolve_class = _resolve_members if nodes == "members" else _resolve_majority
            r = resolve_class(e, level, st, labs, found, problems, min_members)
        if r is not None:
            out.append(r)
    if problems:
        raise VentgenValueError("cohort composition cannot be resolved: " + "; ".join(problems)
                                + ". Available: " + _available(st))
    return out


def _resolve_node(e: CompositionEntry, level: int, st: NodeStats, labs: np.ndarray, problems: list):
    K = st.counts[level - 1].shape[0]
    if not 0 <= e.node < K:
        h, w = st.maps[level - 1]
        problems.append(f"{e.key}: no such node; level {level} is a {h}x{w} lattice with nodes 0..{K - 1}")
        return None
    lab = labs[e.node] or UNLABELLED  # a node without labelled breaths: its breaths are "unlabelled"
    return Resolved(e, level, np.array([e.node]), np.array([1.0]), np.array([lab]), lab)


def _resolve_unlabelled(e: CompositionEntry, level: int, st: NodeStats, min_members: int) -> Resolved:
    """The reference breaths without a label: every node holding them (>= min_members of them, else
    any), weighted by how many; their breaths are "unlabelled" (whatever ``nodes`` says: no node has
    them as its majority, which counts labelled breaths only)."""
    c = _unlabelled_counts(st, level)
    keep = np.flatnonzero(c >= min_members)
    if keep.size == 0:
        keep = np.flatnonzero(c > 0)
    w = c[keep].astype(float)
    return Resolved(e, level, keep, w / w.sum(), np.full(keep.size, UNLABELLED), UNLABELLED)


def _members(st: NodeStats, found: tuple) -> tuple:
    kind, name = found
    members = [name] if kind == "class" else [m for m in st.tree.members(name) if m in st.classes]
    return members, [st.classes.index(m) for m in members]


def _resolve_members(e, level, st, labs, found, problems, min_members):
    """Every node holding breaths of the class (>= min_members of them), weighted by how many; the
    generated breaths are the class's own (class-conditional latents, see latent="data")."""
    kind, name = found
    members, midx = _members(st, found)
    c = st.counts[level - 1]
    nn, ll, ww = [], [], []
    for m, j in zip(members, midx, strict=True):
        keep = np.flatnonzero(c[:, j] >= min_members)
        if keep.size == 0:
            keep = np.flatnonzero(c[:, j] > 0)
        nn.append(keep)
        ll.append(np.full(keep.size, m, dtype=object))
        ww.append(c[keep, j].astype(float))
    nn, ll, ww = np.concatenate(nn), np.concatenate(ll).astype(str), np.concatenate(ww)
    if ww.sum() == 0:
        problems.append(f"{e.key!r}: no reference breath of it is assigned to any node of level {level}")
        return None
    return Resolved(e, level, nn, ww / ww.sum(), ll, name if kind == "class" else "")


def _resolve_majority(e, level, st, labs, found, problems, min_members):
    """The nodes whose majority label is the class (or one of the super-class's members)."""
    kind, name = found
    members, midx = _members(st, found)
    c = st.counts[level - 1]
    sel = np.flatnonzero(np.isin(labs, members))
    if sel.size == 0:
        problems.append(_no_majority_node(e, level, c, midx, labs))
        return None
    w = c[sel][:, midx].sum(axis=1).astype(float)
    w = w / w.sum()
    pur = float((w * c[sel][:, midx].sum(axis=1) / np.maximum(c[sel].sum(axis=1), 1)).sum())
    if pur < 0.5:
        warnings.warn(f"cohort composition: {e.key!r} is drawn from {sel.size} node(s) of level {level} whose "
                      f"reference breaths are only {100 * pur:.0f}% {e.key!r} (purity); generated breaths are "
                      "labelled with their node's majority class", VentgenWarning, stacklevel=4)
    return Resolved(e, level, sel, w, labs[sel], name if kind == "class" else "")


def _no_majority_node(e, level: int, c: np.ndarray, midx: list, labs: np.ndarray) -> str:
    share = c[:, midx].sum(axis=1)
    tot = np.maximum(c.sum(axis=1), 1)
    best = int(np.argmax(share / tot)) if share.any() else -1
    bestmsg = (f"the node with the largest share is level {level} node {best} "
               f"({int(share[best])} of {int(c[best].sum())} breaths, majority {str(labs[best])!r})"
               if best >= 0 else "no reference breath of it at all")
    represented = sorted({str(v) for v in labs if v})
    return (f"{e.key!r}: no node of level {level} has it as its majority label ({bestmsg}); "
            f"classes level {level} represents: {represented}; try a coarser level, an explicit node, or "
            "nodes='members' with latent='data' (class-conditional sampling inside mixed nodes)")


def resolve_composition(model, spec, reference=None, *, labels=None, label_tree=None,
                        nodes: str = "majority") -> pd.DataFrame:
    """Which nodes each composition entry draws from, with their weights and labels.

    Returns
    -------
    DataFrame
        One row per (entry, node): ``entry``, ``fraction``, ``level``, ``node``, ``weight`` (share of
        the entry's breaths), ``label``, ``purity``.

    Examples
    --------
    >>> import ventgen
    >>> recs = ventgen.simulate_cohort(n_subjects=1, minutes=2, random_state=0, progress=False)
    >>> cycles = ventgen.extract_cycles(recs[0], ventgen.segment_breaths(recs[0]))
    >>> model = ventgen.HTVAE(maps=[(2, 2), (1, 2)], latent_dim=4, epochs=1, random_state=0,
    ...                       device="cpu", progress=False).fit(cycles)
    >>> table = resolve_composition(model, {"patients": 1, "breaths": 10,
    ...     "composition": {"normal breathing": 1.0}}, cycles, nodes="members")
    >>> list(table.columns), float(table.weight.sum())
    (['entry', 'fraction', 'level', 'node', 'weight', 'label', 'purity'], 1.0)
    """
    spec = read_cohort_spec(spec)
    ref, enc, stored = generation_source(model, reference, spec, labels)
    st = node_stats(model, ref, label_tree if stored is None else (label_tree or stored.tree), enc)
    table = label_table(st)
    _, resolved = resolve_spec(spec, st, table, nodes)
    rows = []
    pur = table.set_index(["level", "node"])["purity"]
    for r in resolved:
        for k, w, lab in zip(r.nodes, r.weights, r.node_labels, strict=True):
            rows.append({"entry": r.entry.key, "fraction": r.entry.fraction, "level": r.level, "node": int(k),
                         "weight": float(w), "label": str(lab), "purity": float(pur.loc[(r.level, int(k))])})
    return pd.DataFrame(rows)


# ============================================================================ integer counts
def largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Integers summing to ``total``, proportional to ``shares`` (Hamilton's method)."""
    shares = np.asarray(shares, dtype=float)
    if total <= 0 or shares.sum() <= 0:
        return np.zeros(shares.shape, dtype=np.int64)
    q = shares / shares.sum() * total
    base = np.floor(q + 1e-9).astype(np.int64)
    rem = total - int(base.sum())
    if rem > 0:
        order = np.argsort(-(q - base), kind="stable")
        base[order[:rem]] += 1
    return base


def count_matrix(fractions: np.ndarray, per_patient: np.ndarray) -> np.ndarray:
    """(patients, entries) integer counts: rows sum to ``per_patient``, columns to the cohort's
    largest-remainder totals (so the cohort composition is as exact as integers allow)."""
    col = largest_remainder(fractions, int(per_patient.sum()))
    out = np.zeros((per_patient.size, fractions.size), dtype=np.int64)
    remaining = col.copy()
    for p, n_p in enumerate(per_patient):
        left = int(remaining.sum())
        if n_p == left:
            row = remaining.copy()
        else:
            row = largest_remainder(remaining.astype(float), int(n_p))
            row = np.minimum(row, remaining)
            short = int(n_p - row.sum())
            if short:  # only when capped; give the rest to the entries with most left
                order = np.argsort(-(remaining - row), kind="stable")
                for j in order[:short]:
                    row[j] += 1
        out[p] = row
        remaining -= row
    return out


def breaths_per_patient(spec: CohortSpec, resolved: list, pools: NodePools, rate: float) -> np.ndarray:
    """(patients,) breath counts: the spec's ``breaths``, or its ``minutes`` over the expected breath
    length of the composition (from the same pools the lengths are drawn from: the entry's class
    inside each node, the node's own breaths for explicit nodes)."""
    if spec.breaths is not None:
        return np.full(spec.patients, spec.breaths, dtype=np.int64)
    ref = pools.ref
    exp_len = 0.0
    for r in resolved:
        g = pools.global_id(r.level, r.nodes)
        means = []
        for k, lab_k in zip(g, r.node_labels, strict=True):
            mem = pools.members(int(k), lab_k) if not r.entry.is_node else np.empty(0, dtype=np.int64)
            means.append(ref.lengths[mem].mean() if mem.size else pools.lengths(int(k)).mean())
        exp_len += r.entry.fraction * float(np.dot(r.weights, means))
    n = max(1, int(round(spec.minutes * 60.0 * rate / max(exp_len, 1e-9))))
    if n * spec.patients > MAX_COHORT_BREATHS:
        raise VentgenValueError(
            f"cohort spec: {spec.patients} patients x {spec.minutes:g} minutes are {n * spec.patients} breaths "
            f"of this reference (mean breath {exp_len / rate:.2f} s); a cohort holds at most "
            f"{MAX_COHORT_BREATHS} breaths")
    return np.full(spec.patients, n, dtype=np.int64)
