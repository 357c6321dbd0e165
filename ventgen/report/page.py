"""The run report page: :class:`RunReport` collects sections, text, tiles, figures and tables, and
writes them atomically into one folder::

    out_dir/
        index.html        the page: inline CSS, no script, no external resource; opens offline
        figures/*.png     every figure, referenced by relative links (or embedded, ``embed_images=True``)
        metrics.json      the metrics dict, plain JSON (NaN -> null)

The page is the Jinja2 template ``run_report.html.j2`` beside this module (with ``report.css``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from .. import __version__
from .._core import atomic_path, current_umask
from ..errors import VentgenTypeError, VentgenValueError
from .format import fmt, inline, is_num, slug, to_jsonable

__all__ = ["RunReport", "PAGE_NAME", "METRICS_NAME", "FIGURE_DIR"]

PAGE_NAME = "index.html"
METRICS_NAME = "metrics.json"
FIGURE_DIR = "figures"

# the template ships beside this module (package data)
_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent), keep_trailing_newline=True,
                   autoescape=select_autoescape(["html", "j2"], default_for_string=True))
_ENV.filters["inline"] = inline
_TEMPLATE = _ENV.get_template("run_report.html.j2")


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
        self._sections.append({"title": str(title), "id": slug(title, self._slugs), "items": []})
        if text:
            self.text(text)
        return self

    def subheading(self, title: str) -> RunReport:
        """A heading inside the current section."""
        self._current()["items"].append({"kind": "heading", "text": str(title)})
        return self

    def text(self, text: str) -> RunReport:
        """Paragraphs (blank-line separated); HTML is escaped, `backticks` become code."""
        for para in re.split(r"\n\s*\n", str(text).strip()):
            if para.strip():
                self._current()["items"].append({"kind": "paragraph", "text": " ".join(para.split())})
        return self

    def note(self, text: str, *, kind: str = "info") -> RunReport:
        """A highlighted remark; ``kind="warning"`` for things that went wrong or fell short."""
        if kind not in ("info", "warning"):
            raise VentgenValueError(f"note: kind must be 'info' or 'warning', got {kind!r}")
        self._current()["items"].append({"kind": "note", "level": kind, "text": str(text)})
        return self

    def tiles(self, values: Mapping) -> RunReport:
        """Key numbers as large tiles (label -> value)."""
        if not isinstance(values, Mapping):
            raise VentgenTypeError("tiles: expected a mapping of label -> value")
        cells = [{"value": fmt(v), "label": str(k)} for k, v in values.items()]
        if cells:
            self._current()["items"].append({"kind": "tiles", "tiles": cells})
        return self

    def figure(self, fig, name: str, caption: str | None = None, *, close: bool = True) -> RunReport:
        """Add a matplotlib figure, saved as ``figures/<name>.png``.

        ``close`` releases the figure from pyplot's registry when it came from pyplot (figures built by
        :mod:`ventgen.viz` are not registered and need nothing).
        """
        if not hasattr(fig, "savefig"):
            raise VentgenTypeError(f"figure: expected a matplotlib Figure, got {type(fig).__name__}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi, facecolor="white")
        if close:
            plt = sys.modules.get("matplotlib.pyplot")  # only a figure made through pyplot is registered
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
        stem = slug(name, self._fig_names)
        rel = f"{FIGURE_DIR}/{stem}{ext}"
        self._figures[rel] = data
        src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}" if self.embed_images else rel
        self._current()["items"].append({"kind": "figure", "href": rel, "src": src, "alt": caption or name,
                                         "caption": caption})

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
            bool(len(values)) and all(is_num(v) or v is None for v in values[:, j]) for j in range(len(cols))
        ]
        self._current()["items"].append({
            "kind": "table", "caption": caption, "n_rows": f"{len(values):,}",
            "head": [{"text": c, "num": numeric[j]} for j, c in enumerate(cols)],
            "rows": [[{"text": fmt(v), "num": is_num(v)} for v in row] for row in values[:max_rows]],
            "more": f"{len(values) - max_rows:,}" if len(values) > max_rows else "",
            "compact": len(cols) <= 3 if compact is None else compact,
            "collapsed": collapse is not None and len(values) > collapse,
        })
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
        """The page as a string (the Jinja2 template ``run_report.html.j2``)."""
        return _TEMPLATE.render(
            title=self.title, subtitle=self.subtitle, sections=self._sections, version=__version__,
            stamp=self.created.strftime("%Y-%m-%d %H:%M UTC"), figure_dir=FIGURE_DIR, metrics_name=METRICS_NAME,
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
        mode = 0o666 & ~current_umask()  # a report is shared: not the private mode of temporary files
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
