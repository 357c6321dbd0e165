"""The steps of generation one by one: node labelling's tie-break, spreading events, nearest lengths,
the options object (issue 14)."""

from __future__ import annotations

from collections import Counter, deque
from types import SimpleNamespace

import numpy as np
import pytest
from _cohort_double import DoubleModel, make_reference

import ventgen
from ventgen.errors import VentgenTypeError, VentgenValueError
from ventgen.generate import GenerationOptions, generate_cohort, label_nodes, node_label_table
from ventgen.generate.events import spread
from ventgen.generate.latents import Components, nearest_lengths


def test_a_tie_goes_to_the_label_that_sorts_first():
    """3 apnea and 3 coughing breaths: "apnea" (sorts first), whatever the order of the breaths."""
    for labels in (["apnea"] * 3 + ["coughing"] * 3, ["coughing"] * 3 + ["apnea"] * 3):
        t = node_label_table(np.zeros((6, 1), dtype=int), labels, [(1, 1)])
        assert t.loc[0, "label"] == "apnea" and t.loc[0, "purity"] == 0.5
    # unlabelled breaths never count, even when they are the most
    t = node_label_table(np.zeros((5, 1), dtype=int), ["", "", "unlabelled", "snoring", "apnea"], [(1, 1)])
    assert (t.loc[0, "label"], t.loc[0, "n_breaths"], t.loc[0, "n_labelled"]) == ("apnea", 5, 2)


def test_label_nodes_is_the_table_of_the_assignments():
    ref = make_reference(n_subjects=1, per_subject=120)
    model = DoubleModel(ref)
    table = label_nodes(model, ref)
    again = node_label_table(model.assign(ref.X), ref.labels, model.maps, superclasses=ref.superclasses)
    assert table.equals(again)
    with pytest.raises(VentgenValueError, match="assignments must have shape"):
        node_label_table(np.zeros((3, 1), dtype=int), ["a", "b"], [(1, 1)])


def _spread_before(keys):
    """The implementation before issue 14 (identity above 20,000 items), the oracle below that."""
    n = len(keys)
    left = Counter(keys)
    if len(left) < 2:
        return np.arange(n, dtype=np.int64)

    def ok(k, r):
        return left[k] - 1 <= r // 2 and max((v for kk, v in left.items() if kk != k), default=0) <= (r + 1) // 2

    queues: dict = {}
    for i, k in enumerate(keys):
        queues.setdefault(k, deque()).append(i)
    out, prev = [], None
    for r in range(n - 1, -1, -1):
        heads = [(q[0], k) for k, q in queues.items() if q and k != prev]
        good = [h for h in heads if ok(h[1], r)]
        pick = min(good or heads or [(q[0], k) for k, q in queues.items() if q])
        out.append(queues[pick[1]].popleft())
        left[pick[1]] -= 1
        prev = pick[1]
    return np.asarray(out, dtype=np.int64)


def test_spread_gives_the_same_order_as_before():
    rng = np.random.default_rng(0)
    for _ in range(400):
        K = int(rng.integers(1, 6))
        p = rng.dirichlet(np.full(K, rng.choice([0.2, 1.0, 5.0])))
        keys = [f"c{k}" for k in rng.choice(K, size=int(rng.integers(0, 50)), p=p)]
        assert np.array_equal(spread(keys), _spread_before(keys))


def test_spread_separates_any_number_of_events():
    """Above 20,000 runs the order used to be left as it was (equal neighbours merged into one event)."""
    rng = np.random.default_rng(1)
    keys = list(rng.choice(["normal", "apnea", "snoring"], size=30_000, p=[0.4, 0.3, 0.3]))
    order = spread(keys)
    assert sorted(order.tolist()) == list(range(len(keys)))
    seq = np.asarray(keys)[order]
    assert not (seq[1:] == seq[:-1]).any()
    # one key dominating: its surplus ends up together at the end, nothing is lost
    keys = ["a"] * 20_002 + ["b"] * 10_000
    seq = np.asarray(keys)[spread(keys)]
    assert (seq[:20_000:2] == "a").all() and (seq[1:20_000:2] == "b").all() and (seq[-2:] == "a").all()


def test_nearest_lengths_are_those_of_the_nearest_reference_breath():
    """The k-d tree gives what the former broadcast over all pairs gave (which needed n x m x d memory)."""
    rng = np.random.default_rng(2)
    d, m, n = 5, 300, 200
    mu = rng.normal(size=(m, d))
    lengths = rng.integers(20, 200, size=m)
    scales = rng.uniform(0.5, 2.0, size=(1, d))
    comps = Components(np.zeros(n, dtype=np.int64), np.zeros(1, dtype=np.int64), [np.arange(m)],
                       np.zeros((1, d)), scales, 1)
    pools = SimpleNamespace(ref=SimpleNamespace(lengths=lengths))
    Z = rng.normal(size=(n, d)).astype(np.float32)
    lens = np.zeros(n, dtype=np.int64)
    nearest_lengths(lens, Z, comps, pools, SimpleNamespace(mu=mu), rng)
    ref_z = (mu / scales[0]).astype(np.float32)
    d2 = ((Z[:, None, :] / scales[0].astype(np.float32) - ref_z[None]) ** 2).sum(-1)
    assert np.array_equal(lens, lengths[d2.argmin(axis=1)])


def test_options_are_a_generation_options_object():
    ref = make_reference(n_subjects=1, per_subject=60)
    spec = {"patients": 1, "breaths": 10, "composition": {"normal breathing": 1.0}}
    with pytest.raises(VentgenTypeError, match="options must be a GenerationOptions"):
        generate_cohort(DoubleModel(ref), spec, ref, options={"latent": "data"})
    res = generate_cohort(DoubleModel(ref), spec, ref, options=GenerationOptions(latent="data"))
    assert res.info["nodes"] == "members" and res.info["latent"] == "data"
    assert ventgen.GenerationOptions is GenerationOptions
