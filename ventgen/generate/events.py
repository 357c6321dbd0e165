"""Events: each composition entry's breaths cut into runs of one class, in a patient's order.

Each entry's breaths are cut into runs whose lengths follow the run lengths of that class in the
reference (consecutive breaths with the same label), so multi-breath events (apnea, speech, cough
trains) stay contiguous. Each patient weighs the nodes of an entry by its own Dirichlet draw
(``node_concentration``, drawn for the cohort: :mod:`ventgen.generate.profiles`); a run takes its class
from one node drawn with these weights. Every later breath of the run keeps the node of the breath
before it with the reference's probability of that (:func:`node_persistence`: how often two
consecutive breaths of the class share their node) and else draws a node among the entry's nodes of
that class, with the same weights. Real events are not one
node (a simulated snoring episode of 21 breaths visits 3 to 4 level-1 nodes; a run held on one node
leaves the class's less common nodes out of a small cohort), and real consecutive breaths change node
less often than independent draws would. Runs are shuffled, then spread so that two events of one
class do not touch (:func:`spread`).

Examples
--------
>>> keys = ["a", "a", "a", "b", "b", "c"]
>>> [keys[i] for i in spread(keys)]
['a', 'b', 'a', 'b', 'a', 'c']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .composition import Resolved
from .reference import Reference

__all__ = ["Events", "node_persistence", "patient_events", "run_lengths", "split_runs", "spread"]


@dataclass
class Events:
    """One row per generated breath of one patient, in recording order."""

    patient: np.ndarray  # patient index
    entry: np.ndarray  # composition entry index
    gid: np.ndarray  # global node id (see NodePools)
    label: np.ndarray  # str: the node's label for the entry
    run: np.ndarray  # event (run) number within the patient

    def __len__(self) -> int:
        return self.patient.size


def run_lengths(ref: Reference) -> dict:
    """Lengths of runs of consecutive equal labels in the reference (per subject, in row order)."""
    lab = ref.labels
    change = np.ones(lab.size, dtype=bool)
    change[1:] = lab[1:] != lab[:-1]
    if ref.subjects is not None:
        change[1:] |= ref.subjects[1:] != ref.subjects[:-1]
    starts = np.flatnonzero(change)
    lens = np.diff(np.append(starts, lab.size))
    out: dict = {}
    for s, n in zip(starts, lens, strict=True):
        out.setdefault(lab[s], []).append(int(n))
    return {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}


def node_persistence(gid: np.ndarray, labels: np.ndarray, subjects=None) -> dict:
    """``{(level, label): p}``: how often a reference breath has the node (of that level) of the breath
    before it, among consecutive breaths of one label (and one subject, when known); ``gid`` (n, M) the
    nodes of the reference breaths in recording order.

    >>> node_persistence(np.array([[0], [0], [1], [1], [1]]), np.array(["a"] * 5))
    {(1, 'a'): 0.75}
    """
    labels = np.asarray(labels).astype(str)
    same = labels[1:] == labels[:-1]
    if subjects is not None:
        subjects = np.asarray(subjects)
        same &= subjects[1:] == subjects[:-1]
    out = {}
    for lv in range(gid.shape[1]):
        stay = gid[1:, lv] == gid[:-1, lv]
        for lab in np.unique(labels[1:][same]):
            s = same & (labels[1:] == lab)
            out[(lv + 1, str(lab))] = float(stay[s].mean())
    return out


def split_runs(count: int, runs: np.ndarray | None, rng) -> np.ndarray:
    """Run lengths drawn from ``runs`` that sum to ``count`` (the last one cut); ones without runs."""
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    if runs is None or runs.size == 0:
        return np.ones(count, dtype=np.int64)
    draws = rng.choice(runs, size=count)
    cs = np.cumsum(draws)
    k = int(np.searchsorted(cs, count)) + 1
    draws = draws[:k].copy()
    draws[-1] -= int(cs[k - 1] - count)
    return draws


def _regroup(k, r: Resolved, runs_by_label: dict, rng):
    """For a super-class entry: turn the node chosen for each breath into runs per node, with the run
    lengths of that node's label, so events of the member classes stay contiguous too."""
    out_rl, out_k = [], []
    for kk in np.unique(k):
        runs = split_runs(int((k == kk).sum()), runs_by_label.get(str(r.node_labels[kk])), rng)
        out_rl.append(runs)
        out_k.append(np.full(runs.size, kk))
    return np.concatenate(out_rl), np.concatenate(out_k)


def _entry_runs(r: Resolved, count: int, weights, runs_by_label: dict, rng) -> tuple:
    """(run lengths, node index within ``r.nodes`` of each run, the patient's node weights) of one
    entry for one patient whose node weights are ``weights`` (None: the entry's own)."""
    w = r.weights if weights is None else np.asarray(weights, dtype=np.float64)
    if r.run_label:
        rl = split_runs(count, runs_by_label.get(r.run_label), rng)
        return rl, rng.choice(r.nodes.size, size=rl.size, p=w), w
    # super-class: each member class keeps its own event lengths
    return (*_regroup(rng.choice(r.nodes.size, size=count, p=w), r, runs_by_label, rng), w)


def _patient_runs(counts_p: np.ndarray, resolved: list, node_weights: list, runs_by_label: dict, rng) -> tuple:
    """(run lengths, entry, node index) of one patient's runs, shuffled and spread, and the patient's
    node weights of every entry (None for an entry without breaths)."""
    runs_p, entry_p, node_p, weights = [], [], [], [None] * len(resolved)
    for j, r in enumerate(resolved):
        c = int(counts_p[j])
        if c == 0:
            continue
        rl, k, weights[j] = _entry_runs(r, c, node_weights[j], runs_by_label, rng)
        runs_p.append(rl)
        entry_p.append(np.full(rl.size, j))
        node_p.append(k)
    rl, ej, kk = np.concatenate(runs_p), np.concatenate(entry_p), np.concatenate(node_p)
    order = rng.permutation(rl.size)
    rl, ej, kk = rl[order], ej[order], kk[order]
    order = spread([resolved[j].node_labels[k] for j, k in zip(ej, kk, strict=True)])
    return rl[order], ej[order], kk[order], weights


def _breath_nodes(entry: np.ndarray, run_node: np.ndarray, run: np.ndarray, resolved: list, weights: list,
                  persistence: dict, rng) -> np.ndarray:
    """Node index (within its entry's nodes) of every breath: the first of a run has its run's node
    (``run_node``); a later one keeps the node of the breath before it with the ``persistence`` of its
    level and label, else draws one with the patient's ``weights`` among the entry's nodes of that label."""
    node = run_node.copy()
    rho = np.zeros(entry.size)
    for j, r in enumerate(resolved):
        idx = np.flatnonzero(entry == j)
        if idx.size == 0:
            continue
        labels = np.asarray(r.node_labels).astype(str)
        lab_b = labels[run_node[idx]]
        for lab in np.unique(lab_b):
            sel = idx[lab_b == lab]
            rho[sel] = persistence.get((r.level, str(lab)), 0.0)
            cand = np.flatnonzero(labels == lab)
            p = weights[j][cand]
            if cand.size > 1 and p.sum() > 0:
                node[sel] = cand[rng.choice(cand.size, size=sel.size, p=p / p.sum())]
    first = np.ones(entry.size, dtype=bool)
    first[1:] = run[1:] != run[:-1]
    node[first] = run_node[first]
    keep = ~first & (rng.random(entry.size) < rho)
    src = np.maximum.accumulate(np.where(keep, 0, np.arange(entry.size)))  # a kept breath copies the one before
    return node[src]


def patient_events(p: int, counts_p: np.ndarray, resolved: list, offs: np.ndarray, node_weights: list,
                   runs_by_label: dict, rng, persistence: dict | None = None) -> Events:
    """The breaths of patient ``p``, in recording order: ``counts_p[j]`` breaths of entry ``j``, in runs
    (events) of one class each whose breaths draw their own nodes (see the module notes) with the
    patient's ``node_weights`` (per entry, None: the entry's own; see :mod:`ventgen.generate.profiles`),
    from ``rng`` (the patient's own stream); ``persistence``: see :func:`node_persistence` (None: every
    later breath of a run draws its node)."""
    rl, ej, kk, weights = _patient_runs(counts_p, resolved, node_weights, runs_by_label, rng)
    entry, run = np.repeat(ej, rl), np.repeat(np.arange(rl.size), rl)
    node = _breath_nodes(entry, np.repeat(kk, rl), run, resolved, weights, persistence or {}, rng)
    gid = np.empty(entry.size, dtype=np.int64)
    lab = np.empty(entry.size, dtype=object)
    for j, r in enumerate(resolved):
        s = entry == j
        gid[s] = np.asarray(r.nodes)[node[s]] + offs[r.level - 1]
        lab[s] = np.asarray(r.node_labels).astype(str)[node[s]]
    return Events(np.full(entry.size, p), entry, gid, lab.astype(str), run)


# ============================================================================ spreading the events
def spread(keys) -> np.ndarray:
    """A permutation of ``keys`` (already shuffled) that avoids two equal neighbours where possible,
    so that two events of one class do not merge into one longer event.

    Walks the shuffled order and takes the first remaining item whose key differs from the previous
    one and leaves a remainder that can still be separated; when no order can separate everything,
    the surplus of the most frequent key ends up together (nothing is dropped). Any number of items:
    ``O(n k)`` time for ``k`` distinct keys, ``O(n)`` memory. (Each pick depends on the one before, so
    the walk is a loop, not an array operation; a step costs O(1) while no key dominates.)
    """
    ids: dict = {}
    code = [ids.setdefault(k, len(ids)) for k in keys]
    n, K = len(code), len(ids)
    if K < 2:
        return np.arange(n, dtype=np.int64)
    queues = [[] for _ in range(K)]
    for i, k in enumerate(code):
        queues[k].append(i)
    ptr = [0] * K  # next unused position in each key's queue
    left = [len(q) for q in queues]
    m1 = max(left)
    taken = bytearray(n)
    g = 0  # the first item not taken yet
    out = np.empty(n, dtype=np.int64)
    prev = -1
    for i in range(n):
        r = n - 1 - i  # items left after this pick
        while taken[g]:
            g += 1
        if m1 <= (r + 1) // 2:  # no key dominates: every candidate leaves a separable remainder
            k = code[g] if code[g] != prev else _first_other(queues, ptr, left, prev)
        else:
            k = _constrained_pick(queues, ptr, left, prev, r)
        idx = queues[k][ptr[k]]
        ptr[k] += 1
        taken[idx] = 1
        out[i] = idx
        left[k] -= 1
        if left[k] + 1 == m1:
            m1 = max(left)
        prev = k
    return out


def _first_other(queues: list, ptr: list, left: list, prev: int) -> int:
    """The key of the earliest remaining item whose key is not ``prev`` (``prev`` if there is none)."""
    best, best_k = None, prev
    for k in range(len(queues)):
        if k != prev and left[k] and (best is None or queues[k][ptr[k]] < best):
            best, best_k = queues[k][ptr[k]], k
    return best_k


def _constrained_pick(queues: list, ptr: list, left: list, prev: int, r: int) -> int:
    """The pick when one key dominates: the earliest head (key not ``prev``) after which the ``r``
    remaining items can still be separated; else the earliest head not ``prev``; else ``prev``."""
    km = max(range(len(left)), key=left.__getitem__)
    m1 = left[km]
    m2 = max((v for k, v in enumerate(left) if k != km), default=0)
    heads = [(queues[k][ptr[k]], k) for k in range(len(queues)) if left[k] and k != prev]
    good = [h for h in heads if left[h[1]] - 1 <= r // 2 and (m2 if h[1] == km else m1) <= (r + 1) // 2]
    pick = min(good or heads or [(queues[prev][ptr[prev]], prev)])
    return pick[1]
