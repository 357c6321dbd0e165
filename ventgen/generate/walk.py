"""Consecutive breaths that continue the reference: ``sequence="chain"`` with ``latent="kde"``.

With ``latent="kde"`` every generated breath is drawn from one reference breath (its encoding, jittered,
and its length). Drawn independently, two consecutive generated breaths come from unrelated reference
breaths: the end of one and the start of the next do not belong together (end-expiratory flow and
pressure, the timing of the next trigger), and the join shows. A *chain* draws a breath from the
reference breath that follows (in the same recording) the one its predecessor was drawn from, whenever
that breath may stand there: it has the class the events gave the breath and lies in one of the entry's
nodes of that class. Otherwise (the recording ends, its class changes, its node is not allowed) the
breath keeps its own draw. A chain also starts again, from the breath's own draw, with probability
``1 / chain_breaths`` at every breath (:func:`restarts`): left alone, a chain would follow one
recording for as long as its class lasts (a ventilation mode lasts hours), and a virtual patient
would be one stretch of one real patient, jittered. Each breath is still one real breath jittered in latent space (the share
of generated breaths close to a training breath does not change); consecutive breaths now follow
each other as real ones do, and the node a breath takes is the one its successor really has (so the
reference's persistence and transitions between nodes come out of the data).

The chain is an option, not the default: measured, it lowers the forest's discriminative score and
raises the median KS (see :class:`~ventgen.generate.options.GenerationOptions`, ``sequence``).

Examples
--------
>>> import numpy as np
>>> successors(np.array(["a", "a", "b", "b"]), np.array([0, 0, 0, 1]))
array([ 1, -1, -1, -1])
"""

from __future__ import annotations

import numpy as np

__all__ = ["SEQUENCES", "CHAIN_BREATHS", "successors", "chain_table", "chain_picks", "restarts"]

#: How consecutive generated breaths relate to each other (see :class:`GenerationOptions`).
SEQUENCES = ("auto", "chain", "independent")
#: Default mean number of breaths a chain follows the reference before it starts again from a fresh draw.
CHAIN_BREATHS = 8.0


def restarts(n: int, mean_breaths: float, rng) -> np.ndarray:
    """(n,) bool: the breaths that start a new chain, each with probability ``1 / mean_breaths`` (so
    chains follow the reference for ``mean_breaths`` breaths on average, a geometric length; ``inf``:
    never)."""
    return rng.random(n) < 1.0 / float(mean_breaths)


def successors(labels: np.ndarray, subjects=None, follows=None) -> np.ndarray:
    """(n,) int64: the index of the reference breath that follows breath ``i`` in its recording with
    the same label, else -1 (the last breath, a change of label or of subject, or ``follows[i]``
    False: breath ``i + 1`` does not start where breath ``i`` ends)."""
    labels = np.asarray(labels).astype(str)
    n = labels.size
    ok = labels[1:] == labels[:-1]
    if subjects is not None:
        subjects = np.asarray(subjects)
        ok &= subjects[1:] == subjects[:-1]
    if follows is not None:
        ok &= np.asarray(follows, dtype=bool)
    out = np.full(n, -1, dtype=np.int64)
    out[:-1] = np.where(ok, np.arange(1, n), -1)
    return out


def chain_table(resolved: list, comps, gid_ref: np.ndarray, ref_labels: np.ndarray, offs: np.ndarray) -> np.ndarray:
    """(entries, n) int64: the component (see :class:`~ventgen.generate.latents.Components`) a breath of
    each entry takes when it continues reference breath ``q``, or -1 where ``q`` may not stand there:
    explicit-node entries never chain (their breaths keep their node), class entries accept ``q`` when
    its node at the entry's level is one of the entry's nodes whose label is ``q``'s label."""
    n = gid_ref.shape[0]
    ref_labels = np.asarray(ref_labels).astype(str)
    out = np.full((len(resolved), n), -1, dtype=np.int64)
    names, code = np.unique(ref_labels, return_inverse=True)
    for e, r in enumerate(resolved):
        if r.entry.is_node:
            continue
        g = gid_ref[:, r.level - 1].astype(np.int64)
        lab = np.asarray(r.node_labels).astype(str)
        known = np.isin(lab, names)
        allowed = (np.asarray(r.nodes)[known] + offs[r.level - 1]) * names.size + np.searchsorted(names, lab[known])
        ok = np.isin(g * names.size + code, allowed) & np.isin(ref_labels, comps.label)
        if ok.any():
            out[e, ok] = comps.of(g[ok], ref_labels[ok])
    return out


def chain_picks(pick: np.ndarray, comp: np.ndarray, entry: np.ndarray, succ: np.ndarray, table: np.ndarray,
                label: np.ndarray, comp_label: np.ndarray, restart=None) -> tuple:
    """(pick, comp): each breath's reference breath and component after chaining (see the module notes).

    ``pick`` (N,) the reference breath each breath drew on its own (-1: none, its component has too few
    members), ``comp`` (N,) its component, ``entry`` (N,) its composition entry, ``succ`` from
    :func:`successors`, ``table`` from :func:`chain_table`; ``label`` (N,) the breath's class and
    ``comp_label`` the class of every component. A breath continues its predecessor's reference breath
    when the successor's component (for the breath's entry) exists and has the breath's class, unless
    ``restart`` (N,) bool says it starts a new chain. One step per breath (each depends on the one
    before): O(N) time.
    """
    pick, comp = pick.copy(), comp.copy()
    _, codes = np.unique(np.concatenate([np.asarray(comp_label).astype(str), np.asarray(label).astype(str)]),
                             return_inverse=True)
    comp_code, code = codes[:len(comp_label)], codes[len(comp_label):]  # classes as integers for the loop
    go = np.ones(pick.size, dtype=bool) if restart is None else ~np.asarray(restart, dtype=bool)
    prev = -1
    for j in range(pick.size):
        q = succ[prev] if prev >= 0 and go[j] else -1
        if q >= 0:
            c = table[entry[j], q]
            if c >= 0 and comp_code[c] == code[j]:
                pick[j], comp[j] = q, c
        prev = pick[j]
    return pick, comp
