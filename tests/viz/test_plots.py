"""ventgen.viz: figures have the expected panels, colours are fixed, bad input is refused clearly."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle, Wedge

from ventgen import VENTILATION_CLASSES, VentgenTypeError, VentgenValueError, viz
from ventgen.evaluate.fidelity import ks_table
from ventgen.evaluate.nodes import node_class_table

MAPS = [(4, 4), (2, 2), (1, 2)]


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    a1 = rng.integers(0, 16, n)
    a1[a1 == 5] = 6  # node 5 of level 1 stays empty
    a2 = (a1 // 4 // 2) * 2 + (a1 % 4) // 2
    a3 = a2 % 2
    labels = rng.choice(["normal breathing", "apnea", "snoring"], n)
    return np.stack([a1, a2, a3], axis=1), labels


def _tree():
    k = np.arange(16)
    t1 = (k // 4 // 2) * 2 + (k % 4) // 2
    return [t1, np.array([0, 1, 0, 1])]


def test_no_pyplot_state_and_agg_canvas():
    a, y = _data()
    before = list(matplotlib._pylab_helpers.Gcf.figs)
    fig = viz.plot_som_levels(a, y, MAPS)
    assert isinstance(fig, Figure)
    assert type(fig.canvas).__name__ == "FigureCanvasAgg"
    assert list(matplotlib._pylab_helpers.Gcf.figs) == before  # nothing registered with pyplot


def test_class_colors_fixed_and_distinct():
    cols = viz.class_colors()
    vent = [cols[c] for c in VENTILATION_CLASSES]
    assert len(set(vent)) == 10
    # same colour whatever else is asked for, and in whatever order
    assert viz.class_colors(["snoring", "apnea"])["apnea"] == cols["apnea"]
    assert viz.class_colors(["apnea", "zebra"])["apnea"] == cols["apnea"]
    other = viz.class_colors(["3", "10", "2"])
    assert other == viz.class_colors(["10", "2", "3"])  # order-independent
    assert viz.class_colors([""])[""] == viz.UNLABELLED_COLOR


def test_node_class_table_counts():
    a, y = _data()
    t = node_class_table(a, y, MAPS, level=1)
    assert len(t) == 16 and t["n"].sum() == len(y)
    assert t.loc[5, "n"] == 0 and t.loc[5, "majority"] == ""
    k = int(t["n"].idxmax())
    expected = pd.Series(y[a[:, 0] == k]).value_counts()
    assert t.loc[k, "majority"] == expected.index[0]
    assert t.loc[k, expected.index[0]] == expected.iloc[0]
    # unlabelled breaths never win over a labelled one
    t2 = node_class_table([[0], [0], [0]], ["", "", "apnea"], [(1, 1)], level=1)
    assert t2.loc[0, "majority"] == "apnea"


@pytest.mark.parametrize("style", ["pie", "bar"])
def test_som_levels_one_panel_per_level(style):
    a, y = _data()
    fig = viz.plot_som_levels(a, y, MAPS, style=style)
    assert len(fig.axes) == 3
    ax1 = fig.axes[0]
    assert "4×4" in ax1.get_title() and "15/16" in ax1.get_title()
    # colours in the drawing are exactly the class colours
    cols = viz.class_colors()
    shape = Wedge if style == "pie" else Rectangle
    faces = {matplotlib.colors.to_hex(p.get_facecolor()) for p in ax1.patches if isinstance(p, (shape, Circle))}
    for c in ("normal breathing", "apnea", "snoring"):
        assert cols[c] in faces
    legend_texts = {t.get_text() for leg in fig.legends for t in leg.get_texts()}
    assert legend_texts == {"normal breathing", "apnea", "snoring"}


def test_som_levels_pie_fractions_match_counts():
    # one node, 3 apnea + 1 snoring -> wedges of 270 and 90 degrees
    fig = viz.plot_som_levels([[0]] * 4, ["apnea"] * 3 + ["snoring"], [(1, 1)])
    wedges = [p for p in fig.axes[0].patches if isinstance(p, Wedge)]
    spans = sorted(round((w.theta2 - w.theta1) % 360, 6) for w in wedges)
    assert spans == [90.0, 270.0]


def test_som_levels_bad_input():
    a, y = _data()
    with pytest.raises(VentgenValueError, match=r"shape \(n, 3\)"):
        viz.plot_som_levels(a[:, :2], y, MAPS)
    bad = a.copy()
    bad[0, 0] = 16
    with pytest.raises(VentgenValueError, match="level 1 has node ids outside"):
        viz.plot_som_levels(bad, y, MAPS)
    with pytest.raises(VentgenValueError, match="labels"):
        viz.plot_som_levels(a, y[:-1], MAPS)
    with pytest.raises(VentgenTypeError, match="integer node ids"):
        viz.plot_som_levels(a.astype(float), y, MAPS)
    with pytest.raises(VentgenValueError, match="style"):
        viz.plot_som_levels(a, y, MAPS, style="donut")


def test_learned_tree_draws_every_used_node():
    a, y = _data()
    fig = viz.plot_learned_tree(_tree(), MAPS, assignments=a, labels=y)
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections]
    n_points = sum(len(o) for o in offsets)
    # 15 used level-1 nodes + 4 + 2 + root
    assert n_points == 15 + 4 + 2 + 1
    assert [t.get_text().split("\n")[0] for t in ax.get_yticklabels()] == ["level 1", "level 2", "level 3", "root"]
    # parents sit above the mean of their children
    lvl1 = offsets[0]
    assert np.all(lvl1[:, 1] == 0) and len(lvl1) == 15
    fig_all = viz.plot_learned_tree(_tree(), MAPS, assignments=a, labels=y, hide_empty=False)
    assert sum(len(c.get_offsets()) for c in fig_all.axes[0].collections) == 16 + 4 + 2 + 1


def test_learned_tree_without_data_and_bad_tree():
    fig = viz.plot_learned_tree(_tree(), MAPS, hide_empty=False)
    assert len(fig.axes) == 1
    with pytest.raises(VentgenValueError, match="expected 2 parent arrays"):
        viz.plot_learned_tree(_tree()[:1], MAPS)
    t = _tree()
    t[0] = t[0].copy()
    t[0][3] = 9
    with pytest.raises(VentgenValueError, match="level 2"):
        viz.plot_learned_tree(t, MAPS)


def test_reconstructions_grid():
    X = np.random.default_rng(0).normal(size=(5, 2, 60)).astype(np.float32)
    recon = [X + 0.1 * i for i in range(4)]  # z0 + 3 levels
    fig = viz.plot_reconstructions(X, recon, n_show=3, sampling_rate=25.0)
    assert len(fig.axes) == 2 * 3
    ax = fig.axes[0]
    assert len(ax.lines) == 1 + 4
    assert ax.get_ylabel() == "flow [L/min]"
    assert fig.axes[3].get_xlabel() == "time [s]"
    np.testing.assert_allclose(ax.lines[0].get_xdata()[-1], 59 / 25.0)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["original", "z0 (continuous)", "level 1", "level 2", "level 3"]
    with pytest.raises(VentgenValueError, match="does not match"):
        viz.plot_reconstructions(X, [X[:, :1]])


def test_generated_vs_real_rows_and_columns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2, 40))
    y = np.array(["normal breathing", "apnea", "snoring"] * 10)
    G = rng.normal(size=(8, 2, 40))
    g = np.array(["apnea"] * 4 + ["normal breathing"] * 4)
    fig = viz.plot_generated_vs_real(X, y, G, g, n_per_class=3)
    assert len(fig.axes) == 2 * 4  # 2 classes x (2 channels x real/generated)
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert ylabels == ["normal breathing", "apnea"]  # ventilation order
    # 3 thin + 1 median line per panel, and the same y range across a channel
    assert len(fig.axes[0].lines) == 4
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    with pytest.raises(VentgenValueError, match="differ"):
        viz.plot_generated_vs_real(X, y, G[:, :, :10], g)


def test_metadata_distributions_ks_titles():
    rng = np.random.default_rng(2)
    real = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 400), "tvi_ml": rng.normal(500, 50, 400),
                         "pip_cmh2o": rng.normal(15, 1, 400), "other": 1.0})
    syn = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 300), "tvi_ml": rng.normal(650, 50, 300),
                        "pip_cmh2o": rng.normal(15, 1, 300)})
    table = ks_table(real, syn, columns=["rr_bpm", "tvi_ml", "pip_cmh2o"], min_count=1)
    fig = viz.plot_metadata_distributions(real, syn, table)
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    ks = table.set_index("column")["ks"]
    assert ks["tvi_ml"] > 0.7 and ks["rr_bpm"] < 0.2
    for t, col in zip(titles, ["rr_bpm", "tvi_ml", "pip_cmh2o"], strict=True):
        assert t.startswith(col) and f"KS = {ks[col]:.3f}" in t
    with pytest.raises(VentgenValueError, match="no quantity"):
        viz.plot_metadata_distributions(real[["other"]], syn, table.iloc[:0])


def test_training_curves_panels():
    hist = [{"epoch": e, "loss": 5.0 / (e + 1), "rec": 4.0 / (e + 1), "hier": 0.5, "topo": 0.1,
             "must_link": 0.0, "perplexity_1": 10.0 + e, "perplexity_2": 3.0, "perplexity_3": 1.5,
             "time_s": 1.0} for e in range(6)]
    fig = viz.plot_training_curves(hist)
    titles = [ax.get_title() for ax in fig.axes]
    # must_link is all zero -> left out; time_s is not a loss
    assert titles == ["total loss", "reconstruction", "hierarchy", "topology", "code perplexity per level"]
    assert len(fig.axes[-1].lines) == 3
    for h in hist:
        h.update(dead_1=3, dead_2=0)
    fig = viz.plot_training_curves(hist)
    assert fig.axes[-1].get_title() == "unused codes per level" and len(fig.axes[-1].lines) == 2
    np.testing.assert_array_equal(fig.axes[-1].lines[0].get_ydata(), [3] * 6)
    with pytest.raises(VentgenTypeError):
        viz.plot_training_curves([])


def test_recording_excerpt_shades_annotations():
    rate = 50.0
    t = np.arange(0, 120, 1 / rate)

    class Rec:
        flow = 30 * np.sin(2 * np.pi * t / 4)
        pressure = 5 + 10 * (np.sin(2 * np.pi * t / 4) > 0)
        sampling_rate = rate
        subject = "s1"
        annotations = pd.DataFrame({"start_s": [10.0, 40.0, 100.0], "end_s": [20.0, 50.0, 110.0],
                                    "label": ["apnea", "coughing", "snoring"]})

    fig = viz.plot_recording_excerpt(Rec(), start_s=0, duration_s=60)
    assert len(fig.axes) == 2
    spans = [p for p in fig.axes[0].patches]
    assert len(spans) == 2  # the snoring event is outside the window
    cols = viz.class_colors()
    assert {matplotlib.colors.to_hex(p.get_facecolor()) for p in spans} == {cols["apnea"], cols["coughing"]}
    assert fig.axes[0].get_xlim()[1] <= 60.0
    with pytest.raises(VentgenValueError, match="outside the recording"):
        viz.plot_recording_excerpt(Rec(), start_s=500)
    with pytest.raises(VentgenValueError, match="give a recording"):
        viz.plot_recording_excerpt(flow=Rec.flow)


def test_metadata_by_class_grid():
    rng = np.random.default_rng(4)
    lab = rng.choice(["normal breathing", "apnea", "snoring"], 600)
    real = pd.DataFrame({"rr_bpm": rng.normal(15, 2, 600), "tvi_ml": rng.normal(500, 40, 600), "label": lab})
    syn = real.copy()
    syn.loc[syn["label"] == "apnea", "tvi_ml"] += 300  # only apnea volumes differ
    table = ks_table(real, syn, real["label"], syn["label"], columns=["rr_bpm", "tvi_ml"], min_count=1)
    fig = viz.plot_metadata_by_class(real, syn, table)
    assert len(fig.axes) == 3 * 2
    titles = [[fig.axes[i * 2 + j].get_title() for j in range(2)] for i in range(3)]
    assert [fig.axes[i * 2].get_ylabel() for i in range(3)] == ["normal breathing", "snoring", "apnea"]
    assert titles[0] == ["KS = 0.00", "KS = 0.00"] and titles[2][1] == "KS = 1.00"
    with pytest.raises(VentgenValueError, match="no class column"):
        viz.plot_metadata_by_class(real.drop(columns="label"), syn, table)
