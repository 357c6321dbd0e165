"""ventgen.report: the page has its sections, images exist, metrics round-trip, nothing is overwritten."""

from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ventgen import VentgenTypeError, VentgenValueError, VentgenWarning, write_cycleset
from ventgen.report import RunReport, to_jsonable, write_run_report

CLASSES = np.array(["normal breathing", "apnea", "snoring"])


class _Page(HTMLParser):
    """Collects what a browser would fetch, plus section ids and headings."""

    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.ids, self.h2, self.tags = [], [], [], [], []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag in ("img", "script") and "src" in a:
            self.srcs.append(a["src"])
        if tag == "link" and "href" in a:
            self.srcs.append(a["href"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "section":
            self.ids.append(a.get("id"))
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


def _parse(page: Path) -> _Page:
    p = _Page()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def _fig():
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


class FakeModel:
    """The HTVAE interface on a tiny fixed lattice (node = first-sample bin)."""

    maps = [(3, 3), (2, 2)]
    tree_ = [np.array([0, 0, 1, 0, 3, 1, 2, 2, 3])]

    def __init__(self):
        self.history_ = [{"epoch": e, "loss": 3.0 / (e + 1), "rec": 2.0 / (e + 1), "hier": 0.3, "topo": 0.1,
                          "must_link": 0.05, "perplexity_1": 4.0 + e, "perplexity_2": 2.0, "time_s": 0.1}
                         for e in range(4)]
        self.calls = []

    def assign(self, X):
        self.calls.append("assign")
        v = np.asarray(X)[:, 0, 0]
        a1 = np.clip(((v + 3) / 6 * 9).astype(int), 0, 8)
        return np.stack([a1, self.tree_[0][a1]], axis=1)

    def reconstruct(self, X, level=0):
        self.calls.append(f"reconstruct{level}")
        return np.asarray(X) * (1 - 0.1 * level)

    def sample(self, level, node, n, random_state=None):
        self.calls.append(f"sample{level}:{node}")
        rng = np.random.default_rng(random_state)
        return rng.normal(size=(n, 2, 30)).astype(np.float32)


class FakeCycles:
    def __init__(self, n=90, seed=0):
        rng = np.random.default_rng(seed)
        self.X = rng.normal(size=(n, 2, 30)).astype(np.float32)
        self.labels = CLASSES[np.clip(((self.X[:, 0, 0] + 3) / 2).astype(int), 0, 2)]
        self.sampling_rate = 25.0
        self.channels = ["flow_lpm", "paw_cmh2o"]
        self.subjects = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
        self.breaths = pd.DataFrame({"rr_bpm": rng.normal(15, 2, n), "itime_s": rng.normal(1, 0.1, n),
                                     "tvi_ml": rng.normal(500, 40, n), "pip_cmh2o": rng.normal(15, 1, n),
                                     "peep_cmh2o": rng.normal(5, 0.3, n)})


# ------------------------------------------------------------------------------------ RunReport
def test_run_report_builder_writes_page_figures_metrics(tmp_path):
    out = tmp_path / "rep"
    rep = RunReport(out, title="My <run>", subtitle="a `test`")
    rep.section("Results", "Some text with <b>markup</b> and `code`.")
    rep.tiles({"purity": 0.912345, "breaths": 1200})
    rep.figure(_fig(), "curve one", caption="A curve.")
    rep.figure(_fig(), "curve one")  # same name -> second file, not overwritten
    rep.table(pd.DataFrame({"level": [1, 2], "purity": [0.9, np.nan], "name": ["a", "b"]}), caption="T")
    rep.section("Results")  # same title -> unique anchor
    rep.note("careful", kind="warning")
    rep.metrics({"purity": np.float32(0.5), "levels": {"1": 0.9, "2": float("nan")}, "arr": np.arange(3)})
    page = rep.write()
    assert page == out / "index.html"
    html = page.read_text(encoding="utf-8")
    p = _parse(page)
    assert p.ids == ["results", "results-2"]
    assert "My &lt;run&gt;" in html and "&lt;b&gt;markup&lt;/b&gt;" in html and "<code>code</code>" in html
    assert "<b>markup" not in html
    assert len(p.srcs) == 2 and len(set(p.srcs)) == 2
    for src in p.srcs:  # every image is a relative file that exists, and a PNG
        assert not re.match(r"^[a-z]+:", src)
        assert (out / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "0.9123" in html and "1,200" in html and "—" in html  # formatted numbers, NaN as a dash
    m = json.loads((out / "metrics.json").read_text())
    assert m == {"purity": 0.5, "levels": {"1": 0.9, "2": None}, "arr": [0, 1, 2]}
    assert (out / "index.html").stat().st_mode & 0o044  # readable by others (temp files are 0600)


def test_page_has_no_external_resources(tmp_path):
    rep = RunReport(tmp_path / "r", embed_images=True)
    rep.figure(_fig(), "f")
    page = rep.write()
    html = page.read_text()
    p = _parse(page)
    assert "script" not in p.tags and "link" not in p.tags
    assert all(s.startswith("data:image/png;base64,") for s in p.srcs)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "@import" not in html and "url(" not in html


def test_overwrite_refused_then_allowed(tmp_path):
    out = tmp_path / "rep"
    rep = RunReport(out)
    rep.text("first").metrics({"a": 1})
    rep.write()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        RunReport(out)
    # a stale figure also blocks a new report, before anything is written
    out2 = tmp_path / "rep2"
    (out2 / "figures").mkdir(parents=True)
    (out2 / "figures" / "f.png").write_bytes(b"old")
    rep2 = RunReport(out2)
    rep2.figure(_fig(), "f")
    with pytest.raises(FileExistsError, match="f.png"):
        rep2.write()
    assert not (out2 / "index.html").exists() and (out2 / "figures" / "f.png").read_bytes() == b"old"
    rep3 = RunReport(out, overwrite=True)
    rep3.text("second").metrics({"a": 2})
    rep3.write()
    assert "second" in (out / "index.html").read_text()
    assert json.loads((out / "metrics.json").read_text()) == {"a": 2}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_metrics_must_be_json(tmp_path):
    rep = RunReport(tmp_path / "r")
    with pytest.raises(VentgenTypeError, match="cannot write a object to JSON"):
        rep.metrics({"x": object()})
    assert to_jsonable({"t": (1, np.int64(2)), "inf": np.inf}) == {"t": [1, 2], "inf": None}


# ----------------------------------------------------------------------------- write_run_report
def test_write_run_report_full(tmp_path):
    model, cyc = FakeModel(), FakeCycles()
    manifest = pd.DataFrame({"patient": [0, 0, 1, 1], "label": ["apnea", "normal breathing", "apnea", "snoring"]})
    level_report = pd.DataFrame({"level": [1, 2], "K": [9, 4], "purity": [0.8, 0.6]})
    page = write_run_report(
        tmp_path / "run", model=model, cycles=cyc, metrics={"test": {"purity": 0.81, "nmi": 0.4}},
        level_report=level_report, cohort=([], manifest),
        fidelity={"tstr_accuracy": 0.8, "discriminative_score": 0.1, "per_class": pd.DataFrame({"c": ["x"], "ks": [0.1]})},
        synthetic_breaths=cyc.breaths * 1.02, config={"epochs": 4, "maps": [(3, 3), (2, 2)]},
        notes="Four epochs only.", strict=True, dpi=40)
    p = _parse(page)
    assert p.h2 == ["Overview", "Data", "Learned hierarchy", "Reconstructions", "Training", "Generated breaths",
                    "Virtual cohort", "Fidelity", "All metrics"]
    names = sorted(Path(s).name for s in p.srcs)
    assert names == ["generated-vs-real.png", "learned-tree.png", "metadata-distributions.png",
                     "reconstructions.png", "som-levels-superclass.png", "som-levels.png", "training-curves.png"]
    for s in p.srcs:
        assert (page.parent / s).is_file()
    assert set(p.hrefs) >= {f"#{i}" for i in p.ids}  # table of contents links every section
    html = page.read_text()
    assert "Four epochs only." in html and "tstr_accuracy" in html
    # the model was used through its public methods: reconstructions at levels 0..M, samples per class
    assert {"assign", "reconstruct0", "reconstruct1", "reconstruct2"} <= set(model.calls)
    assert any(c.startswith("sample1:") for c in model.calls)
    m = json.loads((page.parent / "metrics.json").read_text())
    assert m["test"] == {"purity": 0.81, "nmi": 0.4}
    assert m["config"]["epochs"] == 4 and m["final_epoch"]["epoch"] == 3
    assert m["fidelity"]["tstr_accuracy"] == 0.8
    assert set(m["ks"]) == {"rr_bpm", "itime_s", "tvi_ml", "pip_cmh2o", "peep_cmh2o"}
    assert m["cohort_composition"]["apnea"] == 0.5
    assert 1 <= m["nodes_used_level_1"] <= 9
    with pytest.raises(FileExistsError):
        write_run_report(tmp_path / "run", metrics={"a": 1})


def test_write_run_report_partial_inputs(tmp_path):
    hist = FakeModel().history_
    page = write_run_report(tmp_path / "h", history=hist)
    p = _parse(page)
    assert p.h2 == ["Overview", "Training", "All metrics"]
    assert [Path(s).name for s in p.srcs] == ["training-curves.png"]
    page = write_run_report(tmp_path / "empty")
    assert _parse(page).h2 == ["Overview"]
    assert json.loads((page.parent / "metrics.json").read_text()) == {}


def test_broken_section_is_reported_not_fatal(tmp_path):
    class Broken(FakeModel):
        def reconstruct(self, X, level=0):
            raise VentgenValueError("decoder exploded")

    class Buggy(FakeModel):
        def reconstruct(self, X, level=0):
            raise RuntimeError("a bug")

    with pytest.warns(VentgenWarning, match="decoder exploded"):
        page = write_run_report(tmp_path / "b", model=Broken(), cycles=FakeCycles(), dpi=40)
    html = page.read_text()
    assert "Could not build the reconstructions" in html and "decoder exploded" in html
    assert "report_problems" in json.loads((page.parent / "metrics.json").read_text())
    with warnings.catch_warnings(), pytest.raises(VentgenValueError, match="decoder exploded"):
        warnings.simplefilter("ignore")
        write_run_report(tmp_path / "b2", model=Broken(), cycles=FakeCycles(), strict=True, dpi=40)
    with pytest.raises(RuntimeError, match="a bug"):  # only ventgen errors become notes: bugs surface
        write_run_report(tmp_path / "b3", model=Buggy(), cycles=FakeCycles(), dpi=40)


def test_write_run_report_demo_call(tmp_path):
    """The keywords `ventgen demo` passes, with the fidelity room's FidelityReport."""
    from ventgen.evaluate.fidelity import FidelityReport

    model, train, test = FakeModel(), FakeCycles(seed=1), FakeCycles(n=40, seed=2)
    rng = np.random.default_rng(3)
    real = train.breaths.assign(label=train.labels)
    syn = real.sample(60, random_state=0).reset_index(drop=True)
    png = tmp_path / "ks_rr_bpm.png"
    _fig().savefig(png)
    fid = FidelityReport(
        composition=pd.DataFrame({"entry": ["apnea"], "requested": [0.5], "achieved": [0.49], "difference": [-0.01]}),
        segmentation={"f1": 0.99, "precision": 1.0}, ks=pd.DataFrame({"label": ["apnea"], "column": ["rr_bpm"], "ks": [0.12]}),
        classifier={"tstr_accuracy": 0.8, "trtr_accuracy": 0.9, "ratio": 0.89}, discriminative={"score": 0.07},
        memorisation={"fraction_below_real_p05": 0.01, "n_exact_copies": 0, "distances": rng.random(5)},
        figures=[png], real_breaths=real, synthetic_breaths=syn)

    class Rec:
        flow = np.sin(np.arange(3000) / 20) * 30
        pressure = np.full(3000, 5.0)
        sampling_rate = 25.0
        annotations = pd.DataFrame({"start_s": [10.0], "end_s": [30.0], "label": ["apnea"]})
        duration_s = 120.0

    evaluation = pd.DataFrame({"level": [1, 2], "K": [9, 4], "purity": [0.7, 0.6]})
    page = write_run_report(tmp_path / "demo", model=model, cycles=train, test_cycles=test, history=model.history_,
                            evaluation=evaluation, fidelity=fid, recordings=[Rec()], notes=["a", "b"],
                            overwrite=True, strict=True, dpi=40)
    p = _parse(page)
    names = {Path(s).name for s in p.srcs}
    assert {"recording-excerpt.png", "metadata-distributions.png", "metadata-by-class.png"} <= names
    m = json.loads((page.parent / "metrics.json").read_text())
    assert m["fidelity"]["summary"]["tstr_over_trtr"] == 0.89
    assert m["fidelity"]["memorisation"] == {"fraction_below_real_p05": 0.01, "n_exact_copies": 0}
    assert "distances" not in json.dumps(m)
    html = page.read_text()
    assert "TSTR / TRTR" in html and "purity" in html  # tiles carry human labels, not raw keys
    # reconstructions come from the held-out cycles: titles are their classes
    assert set(m["reconstruction_rmse"]) == {"z0 (continuous)", "level 1", "level 2"}


def test_long_tables_fold_without_script(tmp_path):
    rep = RunReport(tmp_path / "r")
    rep.table(pd.DataFrame({"a": np.arange(30)}), caption="long one")
    rep.table(pd.DataFrame({"a": np.arange(3)}), caption="short one")
    rep.table(pd.DataFrame({"a": np.arange(300)}), caption="capped", max_rows=100, collapse=None)
    html = rep.to_html()
    assert html.count("<details>") == 1 and "long one <span class=\"rows\">(30 rows" in html
    assert '<div class="tcap">short one</div>' in html
    assert "200 more rows not shown" in html and html.count("<tr>") == 1 + 30 + 1 + 3 + 1 + 100


def _run_folder(tmp_path, with_model=False):
    """A run folder in `ventgen demo`'s layout, made of small files."""
    from ventgen import CycleSet

    run = tmp_path / "run"
    run.mkdir()
    rng = np.random.default_rng(5)
    n = 24
    X = rng.normal(size=(n, 2, 32)).astype(np.float32)
    lab = CLASSES[rng.integers(0, 3, n)]
    cs = CycleSet(X, np.full(n, 32), 25.0, labels=lab, subjects=np.array(["s1"] * n))
    write_cycleset(cs, run / "cycles_train.h5")
    write_cycleset(cs, run / "cycles_test.h5")
    pd.DataFrame({"level": [1, 2], "K": [4, 2], "purity": [0.5, 0.4]}).to_csv(run / "evaluation.csv", index=False)
    fid = run / "fidelity"
    fid.mkdir()
    (fid / "fidelity.json").write_text(json.dumps({"summary": {"ks_median": 0.12, "tstr_over_trtr": 0.9},
                                                   "ks": [{"label": "apnea"}], "figures": []}))
    pd.DataFrame({"label": ["apnea"], "column": ["rr_bpm"], "ks": [0.12]}).to_csv(fid / "ks.csv", index=False)
    if with_model:
        from ventgen import HTVAE

        m = HTVAE(maps=[(2, 2), (1, 2)], latent_dim=3, epochs=1, batch_size=8, random_state=0, device="cpu",
                  progress=False).fit(X)
        m.save(run / "model.pt")
    return run


def test_report_command_from_run_folder(tmp_path, capsys):
    from ventgen.cli import main

    run = _run_folder(tmp_path, with_model=True)
    assert main(["--quiet", "report", str(run)]) == 0
    page = run / "report" / "index.html"
    assert capsys.readouterr().out.strip() == str(page)
    p = _parse(page)
    assert p.h2 == ["Overview", "Data", "Learned hierarchy", "Reconstructions", "Training", "Generated breaths",
                    "Fidelity", "All metrics"]
    m = json.loads((run / "report" / "metrics.json").read_text())
    assert m["fidelity"]["summary"]["tstr_over_trtr"] == 0.9
    assert all((page.parent / s).is_file() for s in p.srcs)
    # a second run refuses to overwrite, with a one-line error
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ventgen: error:") and "overwrite" in err and "\n" not in err
    # explicit files without a run folder
    assert main(["report", "-o", str(tmp_path / "r2"), "--evaluation", str(run / "evaluation.csv"),
                 "--cycles", str(run / "cycles_train.h5"), "--title", "only data"]) == 0
    assert _parse(tmp_path / "r2" / "index.html").h2 == ["Overview", "Data", "Learned hierarchy"]
    assert "<title>only data</title>" in (tmp_path / "r2" / "index.html").read_text()


def test_report_command_bad_input(tmp_path, capsys):
    from ventgen.cli import main

    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "nothing to report" in capsys.readouterr().err
    run = _run_folder(tmp_path)
    assert main(["report", str(run), "--model", str(tmp_path / "missing.pt")]) == 2
    assert "model file" in capsys.readouterr().err


def test_metric_tiles_have_human_labels(tmp_path):
    metrics = {"held_out": {"level_1": {"level": 1, "K": 16, "purity": 0.8, "dtree_lca": 1.5}},
               "fidelity": {"tstr_over_trtr": 0.9}}
    page = write_run_report(tmp_path / "rep", metrics=metrics, strict=True)
    tiles = page.read_text().split('<div class="tiles">', 1)[1].split("</section>", 1)[0]
    assert "Tree distance Dtree (common ancestor), level 1, held-out" in tiles
    assert "Purity, level 1, held-out" in tiles and "TSTR / TRTR" in tiles
    assert "held_out.level_1" not in tiles and "dtree_lca" not in tiles
    m = json.loads((page.parent / "metrics.json").read_text())
    assert m["held_out"]["level_1"]["dtree_lca"] == 1.5  # metrics.json keeps the keys
