"""The standard report of a ventgen run, assembled from whatever pieces are given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .._core import check_random_state
from .inputs import ReportInputs, cycles_parts
from .page import RunReport
from .sections import SECTIONS

__all__ = ["write_run_report"]


def write_run_report(
    out_dir,
    *,
    model=None,
    cycles=None,
    history=None,
    metrics=None,
    cohort=None,
    fidelity=None,
    level_report=None,
    evaluation=None,
    labels=None,
    recording=None,
    recordings=None,
    test_cycles=None,
    synthetic_cycles=None,
    synthetic_labels=None,
    real_breaths=None,
    synthetic_breaths=None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    config: Mapping | None = None,
    notes: str | Sequence[str] | None = None,
    title: str = "ventgen run report",
    subtitle: str | None = None,
    n_reconstructions: int = 3,
    n_per_class: int = 6,
    max_cycles: int = 20000,
    embed_images: bool = False,
    dpi: int = 110,
    overwrite: bool = False,
    strict: bool = False,
    random_state=0,
) -> Path:
    """Write the standard report of a ventgen run from whatever pieces are given.

    Sections appear only when their inputs are there: overview (notes, configuration, key metrics),
    data (class counts, a recording excerpt with its annotations), the learned hierarchy (each SOM level
    coloured by class, the learned tree, per-level metrics), reconstructions per level, training curves,
    generated breaths per class next to real ones, the virtual cohort (composition, an excerpt),
    fidelity (the discriminative scores of both classifiers with their floor and ceiling, real and
    generated breaths of every class side by side, metadata distributions real vs synthetic with KS,
    the fidelity numbers) and all metrics.

    Parameters
    ----------
    out_dir : path
        Report folder (``index.html``, ``figures/``, ``metrics.json``).
    model : fitted HTVAE-like, optional
        Used for ``maps``, ``tree_``, ``assign(X)``, ``reconstruct(X, level=i)``,
        ``sample(level, node, n, random_state=)`` and ``history_`` (each only if present).
    cycles : CycleSet-like or array (n, C, T), optional
        The real breath cycles (``X``, ``labels``, ``sampling_rate``, ``channels``, ``breaths``).
    history : list of dict, optional
        Per-epoch training history (default: ``model.history_``).
    metrics : dict, optional
        Numbers of the run (nested dicts allowed); shown as tiles and a table, written to metrics.json.
    cohort : optional
        A generated cohort: an object with ``recordings`` and ``manifest``, a ``(recordings, manifest)``
        tuple, a list of recordings or a manifest DataFrame (columns ``label`` [, ``patient``]).
    fidelity : dict or DataFrame or object, optional
        Fidelity results (a :class:`~ventgen.evaluate.fidelity.FidelityReport` or a fidelity folder read
        back); scalars join the metrics (under ``fidelity``), DataFrames become tables;
        ``real_breaths`` / ``synthetic_breaths`` DataFrames inside it feed the distribution figure; its
        ``discriminative`` / ``discriminative_cnn`` / ``reconstruction_ceiling`` groups give the table
        of discriminative scores, and its ``breaths_real_vs_generated.png`` figure is shown.
    level_report, evaluation : DataFrame, optional
        Per-level clustering metrics (``ventgen.evaluate.metrics.level_report``), e.g. on held-out breaths
        (two names for the same input).
    labels : array of str, optional
        Labels of ``cycles`` when it carries none.
    recording : Recording-like, optional
        A real recording to show as an excerpt (flow, pressure, annotations).
    recordings : list of Recording-like, optional
        The real recordings; the first is shown when ``recording`` is not given.
    test_cycles : CycleSet-like, optional
        Held-out cycles: the reconstructions are drawn from these (default: from ``cycles``).
    synthetic_cycles, synthetic_labels : optional
        Generated cycles and their classes; default: sampled from ``model`` at the level-1 node with
        the most breaths of each class (among nodes whose majority it is).
    real_breaths, synthetic_breaths : DataFrame, optional
        Breath metadata tables (default real: ``cycles.breaths``).
    tables : dict of str to DataFrame, optional
        Extra tables, shown in a section of their own.
    config : dict, optional
        Settings of the run, shown as a table and stored in metrics.json under ``config``.
    notes : str or list of str, optional
        Paragraphs for the overview (e.g. "fewer epochs than the paper").
    n_reconstructions, n_per_class, max_cycles : int
        Breaths shown in the reconstruction figure, per class in the generation figure; cycles used
        for the SOM figures (a random subset when there are more).
    embed_images : bool
        Embed the figures in the page too (one portable file).
    dpi : int
        Resolution of the PNG figures.
    overwrite : bool
        Replace an existing report.
    strict : bool
        Raise when a section cannot be built; by default the section shows a warning note and a
        :class:`~ventgen.errors.VentgenWarning` is issued, and the rest of the report is still written.
    random_state : int or Generator

    Returns
    -------
    Path
        The page, ``out_dir/index.html``.

    Examples
    --------
    >>> import tempfile
    >>> hist = [{"epoch": e, "loss": 1 / (e + 1), "rec": 0.8 / (e + 1), "perplexity_1": 5 + e} for e in range(4)]
    >>> page = write_run_report(tempfile.mkdtemp() + "/rep", history=hist, metrics={"purity": 0.8})
    >>> page.name, (page.parent / "metrics.json").exists()
    ('index.html', True)
    """
    rng = check_random_state(random_state)
    rep = RunReport(out_dir, title=title, subtitle=subtitle, overwrite=overwrite, embed_images=embed_images, dpi=dpi)
    if recording is None and recordings:
        recording = list(recordings)[0]
    if history is None and model is not None:
        history = getattr(model, "history_", None) or None
    ctx = ReportInputs(
        rep, rng, strict=strict, model=model, cyc=cycles_parts(cycles, labels), test=cycles_parts(test_cycles),
        history=history, metrics=metrics, cohort=cohort, fidelity=fidelity,
        level_report=evaluation if level_report is None else level_report, recording=recording,
        synthetic=None if synthetic_cycles is None else cycles_parts(synthetic_cycles, synthetic_labels),
        real_breaths=real_breaths, synthetic_breaths=synthetic_breaths, tables=tables, config=config, notes=notes,
        n_reconstructions=n_reconstructions, n_per_class=n_per_class, max_cycles=max_cycles)
    for section in SECTIONS:
        section(ctx)
    return rep.write()
