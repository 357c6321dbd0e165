"""Run reports: one self-contained HTML page (a Jinja2 template), its PNG figures and a ``metrics.json``.

:class:`RunReport` is a small builder: sections, paragraphs, notes, key-number tiles, figures and
tables; :meth:`RunReport.write` writes everything atomically into one folder.
:func:`write_run_report` assembles the standard report of a ventgen run from whatever it is given (a
fitted model, the training cycles, the history, metrics, a generated cohort, a fidelity result), one
function per section (:mod:`ventgen.report.sections`). Every input is duck-typed: the model needs only
the methods it is asked for (``maps``, ``tree_``, ``assign``, ``reconstruct``, ``sample``,
``history_``), cycles need ``X`` and optionally ``labels``, ``sampling_rate``, ``channels`` and
``breaths``. Building a report from the files of a run folder is :func:`ventgen.workflows.report_from_run`.
"""

from __future__ import annotations

from .format import to_jsonable
from .labels import METRIC_LABELS, metric_label
from .page import FIGURE_DIR, METRICS_NAME, PAGE_NAME, RunReport
from .run import write_run_report

__all__ = ["RunReport", "write_run_report", "to_jsonable", "metric_label", "METRIC_LABELS", "PAGE_NAME",
           "METRICS_NAME", "FIGURE_DIR"]
