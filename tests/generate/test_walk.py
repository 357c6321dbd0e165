"""sequence='chain': a breath continues the reference breath its predecessor was drawn from."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ventgen import read_cohort, write_cohort
from ventgen.errors import VentgenValueError
from ventgen.generate import GenerationOptions, generate_cohort
from ventgen.generate.events import patient_events
from ventgen.generate.latents import Components, draw_kde
from ventgen.generate.options import check_options
from ventgen.generate.plan import _latents_and_lengths, patient_streams, plan_cohort
from ventgen.generate.walk import chain_picks, chain_table, restarts, successors

PAPER = {"normal breathing": 0.5, "apnea": 0.25, "snoring": 0.25}


def test_successors_stop_at_a_change_of_label_subject_or_gap():
    labels = np.array(["a", "a", "a", "b", "b", "a", "a"])
    assert successors(labels).tolist() == [1, 2, -1, 4, -1, 6, -1]
    subjects = np.array([0, 0, 1, 1, 1, 1, 1])
    assert successors(labels, subjects).tolist() == [1, -1, -1, 4, -1, 6, -1]
    follows = np.array([True, True, True, False, True, True])
    assert successors(labels, None, follows).tolist() == [1, 2, -1, -1, -1, 6, -1]


def test_chain_continues_the_reference_where_it_may():
    succ = np.array([1, 2, 3, -1, 5, -1])  # reference breaths 0-3 follow each other, then 4-5
    # one entry; component 0 holds reference breaths 0, 1 and 4, component 1 holds 2, 3 and 5 (class "a")
    table = np.array([[0, 0, 1, 1, 0, 1]])
    comp_label = np.array(["a", "a"])
    entry = np.zeros(5, dtype=np.int64)
    pick = np.array([0, 4, 4, 0, 5])  # what each breath drew on its own
    comp = np.array([0, 0, 0, 0, 1])
    label = np.array(["a"] * 5)
    p, c = chain_picks(pick, comp, entry, succ, table, label, comp_label)
    assert p.tolist() == [0, 1, 2, 3, 5]  # 0 -> 1 -> 2 -> 3, which has no successor: breath 4 keeps its own
    assert c.tolist() == [0, 0, 1, 1, 1]  # a chained breath takes its reference breath's component
    # a successor the entry may not take (table -1) or of another class is not taken
    p, _ = chain_picks(pick, comp, entry, succ, np.array([[0, -1, 1, 1, 0, 1]]), label, comp_label)
    assert p.tolist() == [0, 4, 5, 0, 5]
    p, _ = chain_picks(pick, comp, entry, succ, table, np.array(["a", "b", "a", "a", "a"]), comp_label)
    assert p[1] == 4 and p[2] == 5
    # a restart keeps the breath's own draw, and the chain goes on from it
    p, _ = chain_picks(pick, comp, entry, succ, table, label, comp_label, np.array([0, 0, 1, 0, 0], dtype=bool))
    assert p.tolist() == [0, 1, 4, 5, 5]


def test_restarts_have_the_asked_rate():
    rng = np.random.default_rng(0)
    assert abs(restarts(20000, 8.0, rng).mean() - 1 / 8) < 0.01
    assert not restarts(100, float("inf"), rng).any() and restarts(100, 1.0, rng).all()


def test_chain_table_allows_the_entry_nodes_of_the_breath_class_only():
    comps = Components(np.zeros(0, dtype=np.int64), np.array([0, 1, 1]), [], np.zeros((3, 1)), np.ones((3, 1)), 0,
                       np.array(["a", "a", "b"]))
    gid_ref = np.array([[0], [1], [1], [2]])
    labels = np.array(["a", "a", "b", "a"])
    cls = SimpleNamespace(entry=SimpleNamespace(is_node=False), level=1, nodes=np.array([0, 1]),
                          node_labels=np.array(["a", "a"]))
    node = SimpleNamespace(entry=SimpleNamespace(is_node=True), level=1, nodes=np.array([1]), node_labels=np.array(["a"]))
    t = chain_table([cls, node], comps, gid_ref, labels, np.array([0, 3]))
    assert t.tolist() == [[0, 1, -1, -1], [-1, -1, -1, -1]]  # (1, "b") and node 2 are not the entry's


def _picks(model, ref, sequence, chain_breaths=float("inf")):
    """The reference breath every breath of patient 0 was drawn from (bandwidth 0: its encoding itself)."""
    spec = {"patients": 2, "breaths": 300, "composition": PAPER, "patient_variability": 0.0}
    o = GenerationOptions(latent="kde", decoder="exact", kde_bandwidth=0.0, sequence=sequence,
                          chain_breaths=chain_breaths)
    plan = plan_cohort(model, spec, ref, random_state=3, options=o)
    rng = patient_streams(plan.root, 0)[0]
    u = plan.profiles.u[:1]  # as generate_patient
    ev = patient_events(0, plan.counts[0], plan.resolved, plan.pools.offs, plan.profiles.node_weights(0),
                        plan.runs, rng, plan.persistence)
    comps = plan.comps.for_breaths(plan.comps.of(ev.gid, ev.label))
    lens, Z, of_breath = _latents_and_lengths(plan, comps, ev, u, rng)
    hit = np.abs(Z[:, None, :].astype(np.float64) - plan.mu[None]).max(axis=2).argmin(axis=1)
    assert np.allclose(Z, plan.mu[hit], atol=1e-4)
    assert np.array_equal(lens, plan.pools.ref.lengths[hit])
    return hit, ev, plan, of_breath


def test_chained_breaths_follow_the_reference_and_take_its_nodes(model, ref):
    pick, ev, plan, of_breath = _picks(model, ref, "chain")
    same_class = ev.label[1:] == ev.label[:-1]
    follows = pick[1:] == pick[:-1] + 1
    assert follows[same_class].mean() > 0.8  # most breaths continue their predecessor's reference breath
    assert (plan.pools.ref.labels[pick] == ev.label).all()  # every breath is drawn from its own class
    gid = plan.comps.gid[of_breath]
    assert (plan.pools.gid_ref[pick, 0] == gid).all()  # and from its reference breath's node
    free, ev2, _, _ = _picks(model, ref, "independent")
    assert (free[1:] == free[:-1] + 1)[ev2.label[1:] == ev2.label[:-1]].mean() < 0.1
    # restarts: about one breath in chain_breaths starts again from its own draw
    short, ev3, _, _ = _picks(model, ref, "chain", chain_breaths=2.0)
    share = (short[1:] == short[:-1] + 1)[ev3.label[1:] == ev3.label[:-1]].mean()
    assert 0.3 < share < 0.6 < follows[same_class].mean()


def test_chain_keeps_the_composition_exact_and_the_seed_reproducible(model, ref):
    o = GenerationOptions(latent="kde", decoder="exact", sequence="chain")
    spec = {"patients": 3, "breaths": 200, "composition": PAPER}
    a = generate_cohort(model, spec, ref, random_state=5, options=o)
    b = generate_cohort(model, spec, ref, random_state=5, options=o)
    assert a.info["sequence"] == "chain"
    counts = a.manifest["label"].value_counts()
    assert counts["normal breathing"] == 300 and counts["apnea"] == 150 and counts["snoring"] == 150
    assert all(np.array_equal(r.flow, s.flow) for r, s in zip(a.recordings, b.recordings, strict=True))
    # every breath's node holds reference breaths of its class
    for lab, node in zip(a.manifest["label"], a.manifest["node"], strict=True):
        assert lab in set(ref.labels[model.assign(ref.X)[:, 0] == node])


def test_a_chain_without_restarts_writes_and_reads_back(model, ref, tmp_path):
    o = GenerationOptions(latent="kde", decoder="exact", sequence="chain", chain_breaths=float("inf"))
    r = generate_cohort(model, {"patients": 1, "breaths": 30, "composition": PAPER}, ref, random_state=0, options=o)
    write_cohort(r, tmp_path / "c")
    back = read_cohort(tmp_path / "c")
    assert back.info["sequence"] == "chain" and back.info["chain_breaths"] is None  # JSON has no infinity


def test_auto_sequence_is_independent_and_bad_values_are_clear(model, ref):
    r = generate_cohort(model, {"patients": 1, "breaths": 30, "composition": PAPER}, ref, random_state=0,
                        options=GenerationOptions(latent="kde", decoder="exact"))
    assert r.info["sequence"] == "independent"
    with pytest.raises(VentgenValueError, match="sequence must be one of"):
        check_options(GenerationOptions(sequence="markov"))
    for bad in (0.5, float("nan"), "8", True):
        with pytest.raises(VentgenValueError, match="chain_breaths must be a number >= 1"):
            check_options(GenerationOptions(chain_breaths=bad))


def test_draw_kde_with_a_chain_returns_the_new_components():
    mu = np.arange(12, dtype=np.float64).reshape(6, 2)
    comps = Components(np.zeros(4, dtype=np.int64), np.array([0, 1]), [np.array([0, 1, 4]), np.array([2, 3, 5])],
                       np.zeros((2, 2)), np.ones((2, 2)), 2, np.array(["a", "a"]))
    succ = np.array([1, 2, 3, -1, 5, -1])
    table = np.array([[0, 0, 1, 1, 0, 1]])
    chain = (np.zeros(4, dtype=np.int64), np.array(["a"] * 4), succ, table, None)
    rng = np.random.default_rng(0)
    Z, L, c = draw_kde(comps, np.zeros(4, int), np.zeros((1, 2)), 0.0, mu, np.arange(10, 16), 0.0, rng, chain)
    first = int(np.flatnonzero((mu == Z[0]).all(axis=1))[0])
    expect = [first]
    for _ in range(3):
        nxt = succ[expect[-1]]
        if nxt < 0:
            break
        expect.append(int(nxt))
    assert np.array_equal(Z[:len(expect)], mu[expect]) and np.array_equal(L[:len(expect)], 10 + np.array(expect))
    assert np.array_equal(c[:len(expect)], table[0, expect])
