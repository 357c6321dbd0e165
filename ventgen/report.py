"""Run reports: one self-contained HTML page, its PNG figures and a ``metrics.json``.

:class:`RunReport` is a small builder: sections, paragraphs, notes, key-number tiles, figures and
tables; :meth:`RunReport.write` writes everything atomically into one folder::

    out_dir/
        index.html        the page: inline CSS, no script, no external resource; opens offline
        figures/*.png     every figure, referenced by relative links (or embedded, ``embed_images=True``)
        metrics.json      the metrics dict, plain JSON (NaN -> null)

:func:`write_run_report` assembles the standard report of a ventgen run from whatever it is given (a
fitted model, the training cycles, the history, metrics, a generated cohort, a fidelity result).
Every input is duck-typed: the model needs only the methods it is asked for (``maps``, ``tree_``,
``assign``, ``reconstruct``, ``sample``, ``history_``), cycles need ``X`` and optionally ``labels``,
``sampling_rate``, ``channels`` and ``breaths``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from ._core import atomic_path, check_random_state
from .errors import VentgenTypeError, VentgenValueError, VentgenWarning

__all__ = ["RunReport", "write_run_report", "to_jsonable"]

PAGE_NAME = "index.html"
METRICS_NAME = "metrics.json"
FIGURE_DIR = "figures"


# ------------------------------------------------------------------------------------------ JSON
def to_jsonable(obj):
    """Convert numpy/pandas values, paths and nested containers into plain JSON types.

    NaN and infinities become ``None`` (JSON has no NaN); DataFrames become lists of records;
    arrays become lists.

    Examples
    --------
    >>> to_jsonable({"a": np.float32(0.5), "b": np.arange(2), "c": float("nan")})
    {'a': 0.5, 'b': [0, 1], 'c': None}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (datetime, pd.Timestamp)):
        return obj.isoformat()
    raise VentgenTypeError(f"metrics: cannot write a {type(obj).__name__} to JSON ({obj!r:.60})")


def _flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


# ------------------------------------------------------------------------------------ formatting
def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return "—"
        if f == 0:
            return "0"
        if f.is_integer() and abs(f) < 1e6:
            return f"{int(f):,}"
        a = abs(f)
        if a >= 1000:
            return f"{f:,.0f}"
        if a >= 1e-3:
            return f"{f:.4g}"
        return f"{f:.2e}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return ", ".join(f"({_fmt(x)})" if isinstance(x, (list, tuple, np.ndarray)) else _fmt(x) for x in v)
    return str(v)


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    """Escape text; `backticks` become <code>."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(str(text)))


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "item"
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


_CSS = """
:root { --ink:#1d2733; --muted:#5b6775; --line:#e3e7ec; --bg:#f4f6f9; --card:#ffffff;
        --accent:#0b5fa5; --accent2:#2e9e5b; --warn:#b45309; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin:0; background:var(--bg); color:var(--ink);
       font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
header.top { background: linear-gradient(120deg, #0b3d6b 0%, #0b5fa5 60%, #2e9e5b 100%); color:#fff;
             padding: 30px 0 22px; }
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 28px; }
header.top h1 { margin:0 0 4px; font-size: 28px; font-weight: 650; letter-spacing: .2px; }
header.top .sub { opacity:.9; font-size: 14.5px; }
header.top .meta { margin-top: 10px; font-size: 12.5px; opacity: .8; }
nav.toc { position: sticky; top:0; z-index: 5; background: rgba(255,255,255,.96);
          border-bottom: 1px solid var(--line); backdrop-filter: blur(4px); }
nav.toc .wrap { display:flex; flex-wrap:wrap; gap:6px 8px; padding-top:9px; padding-bottom:9px; }
nav.toc a { color: var(--accent); text-decoration:none; font-size: 13px; padding: 3px 11px;
            border: 1px solid #cfe0f0; border-radius: 999px; background:#f5f9fd; white-space: nowrap; }
nav.toc a:hover { background:#e4f0fb; }
main { padding: 22px 0 40px; }
section.card { background:var(--card); border:1px solid var(--line); border-radius: 10px;
               box-shadow: 0 1px 2px rgba(16,24,40,.04); padding: 20px 26px 22px; margin: 0 0 22px;
               scroll-margin-top: 60px; }
section.card > h2 { margin: 0 0 12px; font-size: 20px; font-weight: 640; padding-bottom: 8px;
                    border-bottom: 2px solid #eef2f6; }
h3 { font-size: 15.5px; margin: 20px 0 8px; color: #27384a; }
p { margin: 8px 0; max-width: 980px; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background:#f1f4f8;
       padding: 1px 5px; border-radius: 4px; }
.note { border-left: 4px solid var(--accent); background:#f3f8fd; padding: 8px 14px; margin: 10px 0;
        border-radius: 0 6px 6px 0; font-size: 14px; }
.note.warning { border-color: var(--warn); background:#fff7ed; }
.tiles { display:grid; grid-template-columns: repeat(auto-fill, minmax(178px, 1fr)); gap: 12px; margin: 8px 0 6px; }
.tile { border:1px solid var(--line); border-radius: 8px; padding: 10px 14px 11px; background: #fbfcfe; }
.tile .v { font-size: 23px; font-weight: 650; color: var(--accent); font-variant-numeric: tabular-nums;
           white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tile .k { font-size: 12px; color: var(--muted); margin-top: 1px; word-break: break-word; }
figure { margin: 14px 0 18px; }
figure a { display:block; }
figure img { display:block; max-width:100%; height:auto; border:1px solid var(--line); border-radius: 6px;
             background:#fff; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; max-width: 980px; }
.tablewrap { overflow-x:auto; margin: 4px 0 14px; border:1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; }
thead th { background:#f3f6f9; text-align:left; font-weight:600; color:#334; position: sticky; top: 0; }
th, td { padding: 6px 12px; border-bottom: 1px solid #edf0f3; vertical-align: top; }
tbody tr:nth-child(even) td { background:#fafbfc; }
tbody tr:hover td { background:#eef5fc; }
td.num, th.num { text-align:right; white-space: nowrap; }
.tablewrap.compact { display: inline-block; min-width: 420px; max-width: 100%; vertical-align: top; }
.tablewrap.compact table { width: auto; min-width: 420px; }
details { margin: 10px 0 14px; }
details > summary { cursor: pointer; color: var(--accent); font-size: 13.5px; padding: 4px 0; }
details > summary .rows { color: var(--muted); }
details[open] > summary { margin-bottom: 4px; }
.tcap { color: var(--muted); font-size: 13px; margin: 12px 0 2px; }
.more { color: var(--muted); font-size: 12.5px; padding: 6px 12px; }
footer { color: var(--muted); font-size: 12.5px; text-align:center; padding: 10px 0 30px; }
@media print { nav.toc { display:none; } body { background:#fff; } section.card { box-shadow:none;
  break-inside: avoid-page; } header.top { background:#0b5fa5; -webkit-print-color-adjust: exact; } }
"""


def _file_mode() -> int:
    """Permissions of a normally created file (0666 minus the umask): a report is meant to be shared,
    and the temporary files behind atomic writes are created private (0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# ---------------------------------------------------------------------------------------- builder
class RunReport:
    """Build a self-contained HTML run report, then :meth:`write` it atomically.

    Nothing touches the disk until :meth:`write`: figures are rendered to PNG bytes when added (and
    closed), so a failed run leaves no half report. The page is written last, so its presence means a
    complete report.

    Parameters
    ----------
    out_dir : str or path-like
        Folder of the report (created if missing).
    title : str
        Page title.
    subtitle : str, optional
        A line under the title.
    overwrite : bool
        Replace an existing report in ``out_dir``. Without it, an existing page, figure or
        ``metrics.json`` makes the constructor (and :meth:`write`) raise :class:`FileExistsError`.
    dpi : int
        Resolution of the PNG figures.
    embed_images : bool
        Also embed every figure in the page as a base64 ``data:`` URI (one portable file); the PNGs are
        written beside it either way.

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> rep = RunReport(tempfile.mkdtemp() + "/report", title="demo")
    >>> fig = Figure(); _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> _ = rep.section("Results", "Two numbers and a line.").tiles({"purity": 0.91, "NMI": 0.5})
    >>> _ = rep.figure(fig, "line", caption="A line.").metrics({"purity": 0.91})
    >>> rep.write().name
    'index.html'
    """

    def __init__(self, out_dir, title: str = "ventgen run report", *, subtitle: str | None = None,
                 overwrite: bool = False, dpi: int = 110, embed_images: bool = False):
        if not isinstance(title, str):
            raise VentgenTypeError(f"RunReport: title must be a string, got {type(title).__name__}")
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise VentgenValueError(f"RunReport: {self.out_dir} exists and is not a folder")
        self.title = title
        self.subtitle = subtitle
        self.overwrite = bool(overwrite)
        self.dpi = int(dpi)
        self.embed_images = bool(embed_images)
        self._sections: list[dict] = []
        self._figures: dict[str, bytes] = {}
        self._metrics: dict = {}
        self._slugs: set[str] = set()
        self._fig_names: set[str] = set()
        self.created = datetime.now(timezone.utc)
        if not self.overwrite and (self.out_dir / PAGE_NAME).exists():
            raise FileExistsError(
                17, "a report already exists there; pass overwrite=True (or --overwrite) to replace it",
                str(self.out_dir / PAGE_NAME))

    # ------------------------------------------------------------------ content
    @property
    def page_path(self) -> Path:
        return self.out_dir / PAGE_NAME

    @property
    def metrics_dict(self) -> dict:
        """The metrics collected so far (written as ``metrics.json``)."""
        return self._metrics

    def _current(self) -> dict:
        if not self._sections:
            self.section("Overview")
        return self._sections[-1]

    def section(self, title: str, text: str | None = None) -> RunReport:
        """Start a new section (an entry of the table of contents); later content goes into it."""
        self._sections.append({"title": str(title), "id": _slug(title, self._slugs), "items": []})
        if text:
            self.text(text)
        return self

    def subheading(self, title: str) -> RunReport:
        """A heading inside the current section."""
        self._current()["items"].append(f"<h3>{_inline(title)}</h3>")
        return self

    def text(self, text: str) -> RunReport:
        """Paragraphs (blank-line separated); HTML is escaped, `backticks` become code."""
        for para in re.split(r"\n\s*\n", str(text).strip()):
            if para.strip():
                self._current()["items"].append(f"<p>{_inline(' '.join(para.split()))}</p>")
        return self

    def note(self, text: str, *, kind: str = "info") -> RunReport:
        """A highlighted remark; ``kind="warning"`` for things that went wrong or fell short."""
        if kind not in ("info", "warning"):
            raise VentgenValueError(f"note: kind must be 'info' or 'warning', got {kind!r}")
        self._current()["items"].append(f'<div class="note {kind}">{_inline(text)}</div>')
        return self

    def tiles(self, values: Mapping) -> RunReport:
        """Key numbers as large tiles (label -> value)."""
        if not isinstance(values, Mapping):
            raise VentgenTypeError("tiles: expected a mapping of label -> value")
        cells = "".join(
            f'<div class="tile"><div class="v" title="{html.escape(_fmt(v))}">{html.escape(_fmt(v))}</div>'
            f'<div class="k">{_inline(k)}</div></div>' for k, v in values.items())
        if cells:
            self._current()["items"].append(f'<div class="tiles">{cells}</div>')
        return self

    def figure(self, fig, name: str, caption: str | None = None, *, close: bool = True) -> RunReport:
        """Add a matplotlib figure, saved as ``figures/<name>.png``.

        ``close`` releases the figure from pyplot's registry when it came from pyplot (figures built by
        :mod:`ventgen.plots` are not registered and need nothing).
        """
        if not hasattr(fig, "savefig"):
            raise VentgenTypeError(f"figure: expected a matplotlib Figure, got {type(fig).__name__}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi, facecolor="white")
        if close:
            import sys

            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None:
                plt.close(fig)
        self._add_image(buf.getvalue(), name, caption, ".png", "image/png")
        return self

    def image(self, path, name: str | None = None, caption: str | None = None) -> RunReport:
        """Add an existing PNG or JPEG file (copied into ``figures/`` when the report is written)."""
        path = Path(path)
        ext = path.suffix.lower()
        if ext not in (".png", ".jpg", ".jpeg"):
            raise VentgenValueError(f"image: {path} is not a .png or .jpg file")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise VentgenValueError(f"image: cannot read {path}: {exc.strerror or exc}") from None
        magic = b"\x89PNG\r\n\x1a\n" if ext == ".png" else b"\xff\xd8"
        if not data.startswith(magic):
            raise VentgenValueError(f"image: {path} is not a valid {ext[1:].upper()} file")
        self._add_image(data, name or path.stem, caption, ext, "image/png" if ext == ".png" else "image/jpeg")
        return self

    def _add_image(self, data: bytes, name: str, caption: str | None, ext: str, mime: str) -> None:
        stem = _slug(name, self._fig_names)
        rel = f"{FIGURE_DIR}/{stem}{ext}"
        self._figures[rel] = data
        src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}" if self.embed_images else rel
        cap = f"<figcaption>{_inline(caption)}</figcaption>" if caption else ""
        alt = html.escape(caption or name, quote=True)
        self._current()["items"].append(
            f'<figure><a href="{rel}"><img src="{src}" alt="{alt}" loading="lazy"></a>{cap}</figure>')

    def table(self, df, caption: str | None = None, *, index: bool = False, max_rows: int = 200,
              compact: bool | None = None, collapse: int | None = 25) -> RunReport:
        """Add a table from a DataFrame (or a mapping, shown as two columns). Numbers are right-aligned.

        ``compact`` sizes the table to its content instead of the page width (default: when it has at
        most three columns). Tables longer than ``collapse`` rows are folded under their caption (a
        ``<details>`` element: click to open; no script); ``None`` never folds.
        """
        if isinstance(df, Mapping):
            df = pd.DataFrame({"name": list(map(str, df.keys())), "value": list(df.values())})
        if not isinstance(df, pd.DataFrame):
            raise VentgenTypeError(f"table: expected a pandas DataFrame, got {type(df).__name__}")
        if index:
            df = df.reset_index()
        cols = [str(c) for c in df.columns]
        values = df.to_numpy(dtype=object)
        numeric = [
            bool(len(values)) and all(_is_num(v) or v is None for v in values[:, j]) for j in range(len(cols))
        ]
        head = "".join(f'<th class="{"num" if numeric[j] else ""}">{html.escape(c)}</th>' for j, c in enumerate(cols))
        body = []
        for row in values[:max_rows]:
            tds = "".join(
                f'<td class="{"num" if _is_num(v) else ""}">{html.escape(_fmt(v))}</td>' for v in row)
            body.append(f"<tr>{tds}</tr>")
        more = ""
        if len(values) > max_rows:
            more = f'<div class="more">… {len(values) - max_rows:,} more rows not shown</div>'
        compact = len(cols) <= 3 if compact is None else compact
        block = (f'<div class="tablewrap{" compact" if compact else ""}"><table><thead><tr>{head}</tr></thead>'
                 f'<tbody>{"".join(body)}</tbody></table>{more}</div>')
        if collapse is not None and len(values) > collapse:
            label = _inline(caption) if caption else "Table"
            self._current()["items"].append(
                f'<details><summary>{label} <span class="rows">({len(values):,} rows; click to show)</span>'
                f"</summary>{block}</details>")
        else:
            cap = f'<div class="tcap">{_inline(caption)}</div>' if caption else ""
            self._current()["items"].append(cap + block)
        return self

    def metrics(self, values: Mapping, *, prefix: str | None = None) -> RunReport:
        """Merge values into the metrics written as ``metrics.json`` (nested dicts allowed)."""
        if not isinstance(values, Mapping):
            raise VentgenTypeError("metrics: expected a mapping")
        clean = to_jsonable(values)  # fail now, not at write time
        target = self._metrics
        if prefix:
            target = self._metrics.setdefault(str(prefix), {})
            if not isinstance(target, dict):
                raise VentgenValueError(f"metrics: {prefix!r} already holds a value, not a group")
        target.update(clean)
        return self

    # ------------------------------------------------------------------ output
    def to_html(self) -> str:
        """The page as a string."""
        toc = "".join(f'<a href="#{s["id"]}">{html.escape(s["title"])}</a>' for s in self._sections)
        secs = "".join(
            f'<section class="card" id="{s["id"]}"><h2>{html.escape(s["title"])}</h2>{"".join(s["items"])}</section>'
            for s in self._sections)
        sub = f'<div class="sub">{_inline(self.subtitle)}</div>' if self.subtitle else ""
        stamp = self.created.strftime("%Y-%m-%d %H:%M UTC")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="ventgen {__version__}">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f'<header class="top"><div class="wrap"><h1>{html.escape(self.title)}</h1>{sub}'
            f'<div class="meta">generated {stamp} by ventgen {__version__}</div></div></header>'
            f'<nav class="toc"><div class="wrap">{toc}</div></nav>'
            f'<main><div class="wrap">{secs}</div></main>'
            f'<footer>ventgen {__version__} · figures in <code>{FIGURE_DIR}/</code> · '
            f"metrics in <code>{METRICS_NAME}</code></footer></body></html>\n"
        )

    def write(self, *, overwrite: bool | None = None) -> Path:
        """Write the figures, ``metrics.json`` and the page (last); return the page's path.

        Every file is written atomically. Without ``overwrite`` (default: the constructor's), any
        existing target file makes this raise :class:`FileExistsError` before anything is written.
        """
        ow = self.overwrite if overwrite is None else bool(overwrite)
        targets = [self.out_dir / rel for rel in self._figures] + [self.out_dir / METRICS_NAME, self.page_path]
        if not ow:
            existing = [p for p in targets if p.exists()]
            if existing:
                names = ", ".join(str(p.relative_to(self.out_dir)) for p in existing[:5])
                raise FileExistsError(
                    17, f"report files already exist ({names}{', ...' if len(existing) > 5 else ''}); "
                    "pass overwrite=True (or --overwrite) to replace them", str(self.out_dir))
        mode = _file_mode()
        for rel, data in self._figures.items():
            with atomic_path(self.out_dir / rel, overwrite=ow, suffix=".png") as tmp:
                tmp.write_bytes(data)
                os.chmod(tmp, mode)
        with atomic_path(self.out_dir / METRICS_NAME, overwrite=ow) as tmp:
            tmp.write_text(json.dumps(self._metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
            os.chmod(tmp, mode)
        with atomic_path(self.page_path, overwrite=ow) as tmp:
            tmp.write_text(self.to_html(), encoding="utf-8")
            os.chmod(tmp, mode)
        return self.page_path


# ------------------------------------------------------------------------------ standard report
def _get(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _cycles_parts(cycles, labels=None):
    """(X, labels, sampling_rate, channels, breaths, subjects) from a CycleSet-like or an array."""
    if cycles is None:
        return None
    X = _get(cycles, "X", cycles if isinstance(cycles, np.ndarray) else None)
    if X is None:
        raise VentgenTypeError(f"cycles: expected a CycleSet (with .X) or an array, got {type(cycles).__name__}")
    X = np.asarray(X)
    if X.ndim != 3:
        raise VentgenValueError(f"cycles: expected X of shape (n, channels, time), got {X.shape}")
    lab = labels if labels is not None else _get(cycles, "labels")
    if lab is not None:
        lab = np.asarray([str(v) for v in np.asarray(lab)], dtype=object)
        if lab.shape[0] != X.shape[0]:
            raise VentgenValueError(f"labels: {lab.shape[0]} labels for {X.shape[0]} cycles")
    return {
        "X": X,
        "labels": lab,
        "sampling_rate": _get(cycles, "sampling_rate"),
        "channels": _get(cycles, "channels"),
        "breaths": _get(cycles, "breaths"),
        "subjects": _get(cycles, "subjects"),
    }


def _cohort_parts(cohort):
    """(recordings, manifest) from the many shapes a generated cohort may take."""
    if cohort is None:
        return [], None
    if isinstance(cohort, pd.DataFrame):
        return [], cohort
    if isinstance(cohort, tuple) and len(cohort) == 2:
        recs, man = cohort
        return list(recs or []), man
    if isinstance(cohort, Sequence) and not isinstance(cohort, str):
        return list(cohort), None
    recs = _get(cohort, "recordings") or _get(cohort, "patients") or []
    return list(recs), _get(cohort, "manifest")


def _metadata_channels(channels, C):
    if channels is None:
        return None
    ch = [str(c) for c in channels]
    return ch if len(ch) == C else None


def _is_ventilation(labels: np.ndarray) -> bool:
    from .labels import VENTILATION_TREE

    present = set(np.unique(labels).tolist()) - {""}
    return bool(present) and present <= set(VENTILATION_TREE.classes)


def _label_counts(labels: np.ndarray) -> pd.DataFrame:
    from .plots import _ordered_classes

    classes = _ordered_classes(labels)
    n = np.array([(labels == c).sum() for c in classes])
    return pd.DataFrame({"class": [c or "(unlabelled)" for c in classes], "breaths": n,
                         "share [%]": np.round(100 * n / max(1, n.sum()), 1)})


def _node_classes(assign_1: np.ndarray, labels: np.ndarray, maps) -> pd.DataFrame:
    from .plots import node_class_table

    tab = node_class_table(assign_1[:, None], labels, [maps[0]], 1)
    n = tab["n"].to_numpy()
    classes = [c for c in tab.columns if c not in ("n", "majority")]
    maj = tab["majority"].to_numpy()
    count_maj = np.array([tab.loc[k, m] if n[k] else 0 for k, m in enumerate(maj)], dtype=float) if classes else np.zeros(len(n))
    return pd.DataFrame({"node": tab.index.to_numpy(), "n": n, "majority": maj,
                         "purity": np.where(n > 0, count_maj / np.maximum(n, 1), np.nan)})


_EXCERPT_S = 90.0  # seconds of signal in the recording excerpts


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
    fidelity (metadata distributions real vs synthetic with KS, the fidelity numbers) and all metrics.

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
        Fidelity results; scalars join the metrics (under ``fidelity``), DataFrames become tables;
        ``real_breaths`` / ``synthetic_breaths`` DataFrames inside it feed the distribution figure.
    level_report, evaluation : DataFrame, optional
        Per-level clustering metrics (``ventgen.metrics.level_report``), e.g. on held-out breaths
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
    from . import plots

    rng = check_random_state(random_state)
    rep = RunReport(out_dir, title=title, subtitle=subtitle, overwrite=overwrite, embed_images=embed_images, dpi=dpi)
    problems: list[str] = []

    def attempt(what: str, fn):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the whole report
            if strict:
                raise
            msg = f"{what}: {type(exc).__name__}: {exc}"
            problems.append(msg)
            warnings.warn(f"run report: could not build {msg}", VentgenWarning, stacklevel=3)
            rep.note(f"Could not build {what}: {type(exc).__name__}: {exc}", kind="warning")
            return None

    cyc = _cycles_parts(cycles, labels)
    test = _cycles_parts(test_cycles)
    if level_report is None:
        level_report = evaluation
    if recording is None and recordings:
        recording = list(recordings)[0]
    if history is None and model is not None:
        history = getattr(model, "history_", None) or None
    maps = [tuple(m) for m in model.maps] if model is not None and getattr(model, "maps", None) is not None else None

    # ---------------------------------------------------------------- overview
    rep.section("Overview")
    if notes:
        for para in [notes] if isinstance(notes, str) else notes:
            rep.text(para)
    summary: dict = {}
    if cyc is not None:
        summary["breath cycles"] = int(cyc["X"].shape[0])
        if cyc["subjects"] is not None:
            summary["subjects"] = int(len(np.unique(np.asarray(cyc["subjects"]).astype(str))))
    if maps is not None:
        summary["SOM levels"] = len(maps)
        summary["codes, level 1"] = int(maps[0][0] * maps[0][1])
    if history:
        summary["epochs"] = len(history)
    recs, manifest = _cohort_parts(cohort)
    if recs:
        summary["virtual patients"] = len(recs)
    if manifest is not None and len(manifest):
        summary["generated breaths"] = int(len(manifest))
    if metrics:
        rep.metrics(metrics)
        flat = {k: v for k, v in _flatten(to_jsonable(metrics)).items() if _is_num(v)}
        summary.update(dict(list(flat.items())[:12]))
    if summary:
        rep.tiles(summary)
    if config:
        rep.metrics({"config": config})
        rep.table(pd.DataFrame({"setting": list(map(str, config)), "value": [_fmt(v) for v in config.values()]}),
                  caption="Configuration of the run")
    if not (notes or summary or config):
        rep.text("No inputs were given to the report.")

    # ---------------------------------------------------------------- data
    if cyc is not None or recording is not None:
        rep.section("Data")
        if cyc is not None:
            X = cyc["X"]
            rate = cyc["sampling_rate"]
            rep.text(
                f"{X.shape[0]:,} breath cycles of {X.shape[1]} channel(s) × {X.shape[2]} samples"
                + (f" at {float(rate):g} Hz" if rate else "") + ", edge-padded to a common length.")
            if cyc["labels"] is not None:
                rep.table(_label_counts(cyc["labels"]), caption="Breaths per class")
        if recording is not None:
            def _excerpt():
                start = _excerpt_start(recording, _EXCERPT_S)
                rep.figure(plots.plot_recording_excerpt(recording, start_s=start, duration_s=_EXCERPT_S), "recording_excerpt",
                           caption="A 90-second excerpt of a recording: flow and airway pressure, annotated events shaded in their class colour.")
            attempt("the recording excerpt", _excerpt)

    # ---------------------------------------------------------------- hierarchy
    assign = None
    sub_idx = None
    if model is not None and maps is not None and cyc is not None and hasattr(model, "assign"):
        rep.section("Learned hierarchy")
        X = cyc["X"]
        sub_idx = np.sort(rng.choice(X.shape[0], size=max_cycles, replace=False)) if X.shape[0] > max_cycles else np.arange(X.shape[0])
        assign = attempt("the node assignments", lambda: np.asarray(model.assign(X[sub_idx])))
        lab = cyc["labels"][sub_idx] if cyc["labels"] is not None else None
        if assign is not None:
            rep.text(
                "Every SOM level drawn as its lattice: each node is a pie of the classes of the breaths "
                "assigned to it (radius grows with the node's share of the breaths; hatched cells hold none). "
                "Level 1 is the deepest and largest map; each code's parent is its nearest code one level up.")
            attempt("the SOM level figure", lambda: rep.figure(
                plots.plot_som_levels(assign, lab, maps), "som_levels",
                caption="SOM levels coloured by class proportions (compare Figure 1 of the HTVAE paper)."))
            if lab is not None and _is_ventilation(lab):
                from .labels import VENTILATION_TREE

                sup = np.where(lab == "", "", VENTILATION_TREE.map(np.where(lab == "", VENTILATION_TREE.classes[0], lab), 1))
                attempt("the super-class SOM figure", lambda: rep.figure(
                    plots.plot_som_levels(assign, sup, maps), "som_levels_superclass",
                    caption="The same levels coloured by super-class (normal breathing, respiratory event, "
                            "movement): coarser levels should separate these."))
            tree = getattr(model, "tree_", None)
            if tree is not None and len(maps) > 1:
                attempt("the learned tree", lambda: rep.figure(
                    plots.plot_learned_tree(tree, maps, assignments=assign, labels=lab), "learned_tree",
                    caption="The learned tree: level-1 codes at the bottom, the virtual root on top; nodes "
                            "coloured by their majority class and sized by their number of breaths."))
            if lab is not None:
                nodes = _node_classes(assign[:, 0], lab, maps)
                used = nodes[nodes["n"] > 0]
                rep.metrics({"nodes_used_level_1": int(len(used)),
                             "mean_node_purity_level_1": float(np.average(used["purity"], weights=used["n"])) if len(used) else None})
        if level_report is not None:
            rep.table(level_report, caption="Clustering metrics per level (K = number of codes)")
    elif level_report is not None:
        rep.section("Learned hierarchy")
        rep.table(level_report, caption="Clustering metrics per level (K = number of codes)")

    # ---------------------------------------------------------------- reconstructions
    if model is not None and maps is not None and cyc is not None and hasattr(model, "reconstruct"):
        rep.section("Reconstructions")

        def _recon():
            src = test if test is not None else cyc
            X, lab = src["X"], src["labels"]
            k = min(n_reconstructions, X.shape[0])
            if lab is not None:  # one breath of each of k different classes where possible
                classes = [c for c in plots._ordered_classes(lab) if c != ""]
                chosen = rng.permutation(len(classes))[:k] if classes else []
                pick = [int(rng.choice(np.flatnonzero(lab == classes[j]))) for j in chosen]
                rest = np.setdiff1d(np.arange(X.shape[0]), pick)
                pick = pick + list(rng.choice(rest, size=k - len(pick), replace=False))
            else:
                pick = list(rng.choice(X.shape[0], size=k, replace=False))
            pick = np.array(pick, dtype=np.int64)
            xs = X[pick]
            recon = [np.asarray(model.reconstruct(xs, level=i)) for i in range(len(maps) + 1)]
            titles = [f"{lab[i]}" for i in pick] if lab is not None else None
            fig = plots.plot_reconstructions(xs, recon, n_show=k, sampling_rate=src["sampling_rate"],
                                             channels=_metadata_channels(src["channels"], X.shape[1]))
            if titles:
                for j, ax in enumerate(fig.axes[:k]):
                    ax.set_title(titles[j] or f"breath {j + 1}", fontsize=10)
            which = "held-out" if test is not None else "training"
            rep.figure(fig, "reconstructions",
                       caption=f"Original {which} breaths (black) and their reconstructions from the continuous "
                               "latent z0 and from the code of every level: coarser levels keep less detail.")
            # error over a larger sample, per channel
            m = min(512, X.shape[0])
            idx = np.sort(rng.choice(X.shape[0], size=m, replace=False))
            names = _metadata_channels(src["channels"], X.shape[1]) or [f"channel {c}" for c in range(X.shape[1])]
            rows = []
            for i in range(len(maps) + 1):
                r = np.asarray(model.reconstruct(X[idx], level=i))
                err = np.sqrt(np.mean((r - X[idx]) ** 2, axis=(0, 2)))
                rows.append({"decoded from": f"level {i}" if i else "z0 (continuous)",
                             **{f"RMSE {n}": float(e) for n, e in zip(names, err, strict=True)}})
            tab = pd.DataFrame(rows)
            rep.table(tab, caption=f"Reconstruction error (root mean square, original units) over {m} {which} breaths")
            rep.metrics({"reconstruction_rmse": {r["decoded from"]: {k2: v for k2, v in r.items() if k2 != "decoded from"}
                                                 for r in rows}})
        attempt("the reconstructions", _recon)

    # ---------------------------------------------------------------- training
    if history:
        rep.section("Training")
        attempt("the training curves", lambda: rep.figure(
            plots.plot_training_curves(history), "training_curves",
            caption="Loss terms per epoch (log scale when they span more than a factor 20) and the perplexity "
                    "of the code usage per level (higher = more codes in use)."))
        last = history[-1]
        rep.metrics({"final_epoch": to_jsonable({k: v for k, v in last.items() if _is_num(v)})})

    # ---------------------------------------------------------------- generation
    gen_X, gen_y = None, None
    if synthetic_cycles is not None:
        gen = _cycles_parts(synthetic_cycles, synthetic_labels)
        gen_X, gen_y = gen["X"], gen["labels"]
    elif model is not None and assign is not None and cyc is not None and cyc["labels"] is not None and hasattr(model, "sample"):
        def _sample():
            lab = cyc["labels"][sub_idx]
            nodes = _node_classes(assign[:, 0], lab, maps)
            xs, ys = [], []
            for cls in plots._ordered_classes(lab):
                if cls == "":
                    continue
                mine = nodes[nodes["majority"] == cls]
                if not len(mine):
                    continue
                node = int(mine.sort_values("n", ascending=False)["node"].iloc[0])
                s = np.asarray(model.sample(1, node, n_per_class, random_state=int(rng.integers(2**31))))
                xs.append(s)
                ys += [cls] * len(s)
            return (np.concatenate(xs), np.array(ys, dtype=object)) if xs else (None, None)
        res = attempt("samples from the model", _sample)
        if res is not None:
            gen_X, gen_y = res
    if gen_X is not None and cyc is not None and cyc["labels"] is not None and gen_y is not None:
        rep.section("Generated breaths")
        rep.text("Generated breaths of each class (dashed, right) beside real breaths of the same class "
                 "(solid, left), on the same axes; the bold line is the pointwise median.")
        attempt("the generated-vs-real figure", lambda: rep.figure(
            plots.plot_generated_vs_real(cyc["X"], cyc["labels"], gen_X, gen_y, n_per_class=n_per_class,
                                         sampling_rate=cyc["sampling_rate"],
                                         channels=_metadata_channels(cyc["channels"], cyc["X"].shape[1]),
                                         random_state=rng),
            "generated_vs_real", caption="Real and generated breaths per class."))

    # ---------------------------------------------------------------- cohort
    if recs or manifest is not None:
        rep.section("Virtual cohort")
        comp_fn = getattr(cohort, "composition", None)
        if callable(comp_fn):
            def _composition():
                comp = comp_fn()
                rep.table(comp, caption="Composition: requested vs achieved share of breaths per entry of the spec")
                if "difference" in comp:
                    rep.metrics({"composition_max_abs_error": float(np.abs(comp["difference"]).max())})
            attempt("the composition table", _composition)
        info = _get(cohort, "info")
        if isinstance(info, Mapping):
            nums = {k: v for k, v in info.items() if _is_num(v) or isinstance(v, str)}
            if nums:
                rep.table(nums, caption="Generation")
                rep.metrics({"cohort_info": nums})
        if manifest is not None and len(manifest) and "label" in manifest:
            comp = manifest["label"].astype(str).value_counts(normalize=True)
            comp_df = pd.DataFrame({"class": comp.index, "share of breaths [%]": np.round(100 * comp.to_numpy(), 1),
                                    "breaths": manifest["label"].astype(str).value_counts().reindex(comp.index).to_numpy()})
            rep.table(comp_df, caption="Breaths per class in the generated cohort")
            rep.metrics({"cohort_composition": {str(k): float(v) for k, v in comp.items()}})
        if recs:
            rec0 = recs[0]

            def _vexcerpt():
                start = _excerpt_start(rec0, _EXCERPT_S)
                rep.figure(plots.plot_recording_excerpt(rec0, start_s=start, duration_s=_EXCERPT_S), "virtual_patient",
                           caption="A 90-second excerpt of a generated virtual patient, generated events shaded.")
            attempt("the virtual patient excerpt", _vexcerpt)

    # ---------------------------------------------------------------- fidelity
    fid_tables: dict[str, pd.DataFrame] = {}
    fid_metrics: dict = {}
    fid_headline: dict = {}
    fid_images: list[Path] = []
    if fidelity is not None:
        if isinstance(fidelity, pd.DataFrame):
            fdict = {"fidelity": fidelity}
        elif isinstance(fidelity, Mapping):
            fdict = dict(fidelity)
        elif callable(getattr(fidelity, "to_dict", None)):
            fdict = dict(fidelity.to_dict())
        else:
            fdict = dict(vars(fidelity))
        summ = fidelity.summary() if callable(getattr(fidelity, "summary", None)) else fdict.get("summary")
        for k, v in fdict.items():
            k = str(k)
            if isinstance(v, pd.DataFrame):
                if k == "real_breaths":
                    real_breaths = v if real_breaths is None else real_breaths
                elif k == "synthetic_breaths":
                    synthetic_breaths = v if synthetic_breaths is None else synthetic_breaths
                elif not (k == "composition" and callable(getattr(cohort, "composition", None))):
                    fid_tables[k] = v
            elif k == "figures" and isinstance(v, (list, tuple)):
                fid_images = [Path(f) for f in v if str(f).lower().endswith((".png", ".jpg", ".jpeg"))]
            elif _is_num(v) or isinstance(v, (str, bool)) or v is None:
                fid_metrics[k] = v
            elif isinstance(v, Mapping):
                fid_metrics[k] = {kk: vv for kk, vv in _flatten(v).items()
                                  if _is_num(vv) or isinstance(vv, (str, bool)) or vv is None}
        source = summ if isinstance(summ, Mapping) else fid_metrics
        fid_headline = {k.replace("_", " "): v for k, v in source.items() if _is_num(v)}
    if real_breaths is None and cyc is not None and isinstance(cyc["breaths"], pd.DataFrame):
        real_breaths = cyc["breaths"]
    if synthetic_breaths is None and recs and real_breaths is not None:
        def _segment():
            import ventgen

            seg = getattr(ventgen, "segment_breaths", None)
            if seg is None:
                return None
            return pd.concat([seg(r) for r in recs[:5]], ignore_index=True)
        synthetic_breaths = attempt("the segmentation of the virtual patients", _segment)
    if fid_metrics or fid_tables or fid_images or (real_breaths is not None and synthetic_breaths is not None):
        rep.section("Fidelity")
        if fid_headline:
            rep.tiles(fid_headline)
        if real_breaths is not None and synthetic_breaths is not None:
            def _dist():
                ks = plots.ks_table(real_breaths, synthetic_breaths)
                rep.figure(plots.plot_metadata_distributions(real_breaths, synthetic_breaths), "metadata_distributions",
                           caption="Breath metadata of real breaths (grey) and synthetic breaths (orange): "
                                   "two-sample Kolmogorov–Smirnov statistic in each title (0 = same distribution).")
                rep.table(ks, caption="Real vs synthetic breath metadata, all classes together")
                if "label" in real_breaths.columns and "label" in synthetic_breaths.columns:
                    attempt("the per-class metadata figure", lambda: rep.figure(
                        plots.plot_metadata_by_class(real_breaths, synthetic_breaths), "metadata_by_class",
                        caption="The same quantities per class: real (grey) and synthetic (class colour), "
                                "KS statistic of each class and quantity in the panel titles."))
                finite = ks["ks"].to_numpy(dtype=float)
                finite = finite[np.isfinite(finite)]
                rep.metrics({"ks": {r.column: r.ks for r in ks.itertuples()},
                             "median_ks": float(np.median(finite)) if finite.size else None})
            attempt("the metadata distributions", _dist)
        for name, df in fid_tables.items():
            rep.table(df, caption=name.replace("_", " "), max_rows=500)
        if fid_images:
            where = sorted({os.path.relpath(p.parent, rep.out_dir) if p.is_absolute() == rep.out_dir.is_absolute()
                            else str(p.parent) for p in fid_images})
            rep.note(f"The fidelity evaluation also wrote {len(fid_images)} figure(s) in `{', '.join(where)}`.")
        if fid_metrics:
            rep.metrics({"fidelity": fid_metrics})

    # ---------------------------------------------------------------- extra tables, all metrics
    if tables:
        rep.section("Tables")
        for name, df in tables.items():
            rep.table(df, caption=str(name))
    if problems:
        rep.metrics({"report_problems": problems})
    if rep.metrics_dict:
        rep.section("All metrics", "Every number of this page, also in `metrics.json` beside it.")
        flat = _flatten(rep.metrics_dict)
        rep.table(pd.DataFrame({"metric": list(flat), "value": [_fmt(v) for v in flat.values()]}),
                  caption=f"All {len(flat)} metrics")
    return rep.write()


# ------------------------------------------------------------------------------- from a run folder
#: Files :func:`report_from_run` looks for in a run folder (as ``ventgen demo`` writes it).
RUN_LAYOUT = {
    "model": "model.pt",
    "cycles": "cycles_train.h5",
    "test_cycles": "cycles_test.h5",
    "evaluation": "evaluation.csv",
    "cohort": "cohort",
    "fidelity": "fidelity",
    "recordings": "recordings",
}


def _read_fidelity_dir(path: Path) -> dict:
    """The tables and numbers ``evaluate_cohort`` wrote in a folder, as a fidelity mapping."""
    doc_path = path / "fidelity.json"
    if not doc_path.is_file():
        raise VentgenValueError(f"{path}: not a fidelity folder (no fidelity.json)")
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise VentgenValueError(f"{doc_path}: cannot read JSON: {exc}") from None
    out: dict = {k: v for k, v in doc.items() if isinstance(v, Mapping) or _is_num(v)}
    for name in ("ks", "composition", "synthetic_breaths"):
        csv = path / f"{name}.csv"
        if csv.is_file():
            out[name] = pd.read_csv(csv)
    out["figures"] = sorted(path.glob("*.png"))
    return out


def report_from_run(run_dir=None, out_dir=None, *, model=None, cycles=None, test_cycles=None, evaluation=None,
                    cohort=None, fidelity=None, recording=None, overwrite: bool = False, **kwargs) -> Path:
    """Build the run report from files: a run folder (``ventgen demo``'s layout) and/or explicit paths.

    Every input is optional; explicit paths win over the files found in ``run_dir``
    (:data:`RUN_LAYOUT`: ``model.pt``, ``cycles_train.h5``, ``cycles_test.h5``, ``evaluation.csv``,
    ``cohort/``, ``fidelity/``, ``recordings/``).

    Parameters
    ----------
    run_dir : path, optional
        A run folder.
    out_dir : path, optional
        Report folder; default ``run_dir/report``.
    model, cycles, test_cycles, evaluation, cohort, fidelity, recording : path, optional
        A saved HTVAE, CycleSet HDF5 files, a per-level metrics CSV, a cohort folder
        (``ventgen generate``), a fidelity folder (``ventgen evaluate-cohort``), a recording file or a
        folder of them (the first is shown).
    overwrite : bool
    **kwargs
        Passed to :func:`write_run_report` (``title``, ``notes``, ``metrics``...).

    Returns
    -------
    Path
        The page.

    Examples
    --------
    >>> report_from_run("runs/demo", "runs/demo/report2")  # doctest: +SKIP
    """
    paths = {"model": model, "cycles": cycles, "test_cycles": test_cycles, "evaluation": evaluation,
             "cohort": cohort, "fidelity": fidelity, "recordings": recording}
    if run_dir is not None:
        run = Path(run_dir)
        if not run.is_dir():
            raise VentgenValueError(f"{run}: no such run folder")
        for key, rel in RUN_LAYOUT.items():
            if paths[key] is None and (run / rel).exists():
                paths[key] = run / rel
    if out_dir is None:
        if run_dir is None:
            raise VentgenValueError("report_from_run: give a run folder or an output folder")
        out_dir = Path(run_dir) / "report"
    if not any(v is not None for v in paths.values()):
        raise VentgenValueError(
            f"report_from_run: nothing to report: none of {sorted(RUN_LAYOUT.values())} in {run_dir}, "
            "and no file given")
    for key, p in paths.items():
        if p is not None and not Path(p).exists():
            raise VentgenValueError(f"report_from_run: {key} file {p} does not exist")
    loaded: dict = {}
    if paths["cycles"] is not None or paths["test_cycles"] is not None:
        from .signals.cycles import CycleSet

        for key in ("cycles", "test_cycles"):
            if paths[key] is not None:
                loaded[key] = CycleSet.load(paths[key])
    if paths["model"] is not None:
        from .models.estimator import HTVAE

        loaded["model"] = HTVAE.load(paths["model"], device="cpu")
    if paths["evaluation"] is not None:
        loaded["evaluation"] = pd.read_csv(paths["evaluation"])
    if paths["cohort"] is not None:
        from .cohort import read_cohort

        loaded["cohort"] = read_cohort(paths["cohort"])
    if paths["fidelity"] is not None:
        loaded["fidelity"] = _read_fidelity_dir(Path(paths["fidelity"]))
    if paths["recordings"] is not None:
        from .signals.io import read_recording

        rp = Path(paths["recordings"])
        files = sorted(f for f in rp.iterdir() if f.suffix.lower() in (".h5", ".hdf5", ".csv")) if rp.is_dir() else [rp]
        if files:
            loaded["recording"] = read_recording(files[0])
    return write_run_report(out_dir, overwrite=overwrite, **loaded, **kwargs)


__all__.append("report_from_run")
