"""PB-840 text (read-only): what a Puritan Bennett 840 ventilator exports.

``flow, pressure`` lines at 50 Hz, ``BS, S:<n>,`` / ``BE`` breath marks kept as device markers,
optional timestamp lines, a 3-column variant with a timestamp on every line. Junk lines, null bytes
and undecodable bytes are skipped with a warning that counts them. The whole file is parsed as one byte
buffer with vectorised numpy and pandas' C parser.
"""

from __future__ import annotations

import io as _io
import math
import re
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .._core.limits import MAX_RECORDING_SAMPLES
from ..errors import DataRecoveryWarning, FileFormatError
from ..signals.recording import Recording
from ._common import _check_nan_policy, _make_recording

__all__ = ["read_pb840", "PB840_SAMPLING_RATE"]

#: The PB-840 streams its waveforms at a fixed 50 Hz (one sample every 0.02 s).
PB840_SAMPLING_RATE = 50.0
_PB_MARK_RE = re.compile(rb"\s*B[SE]\b")
_PB_BS_RE = re.compile(rb"BS\s*,\s*S\s*:\s*(\d+)\s*,?")
_PB_BE_RE = re.compile(rb"BE\s*,?")
_PB_TS_RE = re.compile(rb"(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)(?:\.(\d{1,9}))?")
_PB3_PREFIX_RE = re.compile(rb"\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*,")
_PB_DATA_RE = re.compile(rb"\s*[-+]?\d+(?:\.\d*)?\s*,\s*[-+]?\d+(?:\.\d*)?\s*")
# characters of a data line: 2-column 'flow, pressure'; 3-column adds the time of day
_PB_ALLOWED = {2: b"0123456789.-+ ,\n", 3: b"0123456789.-+ ,\n:"}
# translation tables: 0 = allowed, 1 = anything else (the translated bytes are read as numpy bools:
# flatnonzero on a bool view is an order of magnitude faster than on uint8)
_PB_SPECIAL = {k: bytes(0 if i in v else 1 for i in range(256)) for k, v in _PB_ALLOWED.items()}
_HIGH_BYTES = bytes(range(128, 256))
_PB_BS_LINES_RE = re.compile(rb"(?:BS, S:\d+,\n)*")
#: Longest breath number read (the device counts breaths: 18 digits fit a 64-bit integer).
_PB_MAX_BREATH_DIGITS = 18
#: Largest PB-840 text file read: MAX_RECORDING_SAMPLES lines of a generous 64 bytes.
_PB_MAX_BYTES = 64 * MAX_RECORDING_SAMPLES


def _pb_ts(s: bytes) -> datetime | None:
    m = _PB_TS_RE.fullmatch(s)
    if m is None:
        return None
    y, mo, d, h, mi, se, frac = m.groups()
    us = int((frac or b"0").ljust(6, b"0")[:6])
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(se), us)
    except ValueError:
        return None


def read_pb840(path, *, sampling_rate=PB840_SAMPLING_RATE, subject=None, nan_policy="raise",
                max_gap_s=1.0) -> Recording:
    """Read PB-840 text. The whole file is one byte buffer: lines are found with numpy, the few
    non-data lines (breath marks, timestamps, junk) are cut out, and the data lines are parsed in one
    call of pandas' C parser. Sample indices of marks count the data lines before them."""
    path = Path(path)
    _check_nan_policy(nan_policy)
    raw, notes, n_null = _pb_read_bytes(path)
    a = np.frombuffer(raw, np.uint8)
    ends = np.flatnonzero(a == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    n_lines = ends.size
    ncol, start_time = _pb_layout(raw)
    flow, pres, cand, data_lines, junk_lines = _pb_data_lines(raw, a, starts, ends, ncol)
    # the other lines: breath marks, timestamps, blank lines, junk (few)
    ev_line, ev_kind, ev_bn, start_time, n_high = _pb_other_lines(
        path, raw, a, starts, ends, np.flatnonzero(~cand), ncol, data_lines, start_time, junk_lines)
    n = int(flow.shape[0])
    _pb_check_values(path, flow, pres, data_lines)
    n_junk = len(junk_lines)
    _pb_check_counts(path, n, n_junk, n_lines, junk_lines)
    markers, n_empty, empty_line = _pb_markers(ev_line, ev_kind, ev_bn, data_lines, n)
    if n_junk:
        hi = f"; they hold {n_high} undecodable (non-ASCII) byte(s)" if n_high else ""
        notes.append(
            f"skipped {n_junk} junk line(s) that are not 'flow, pressure' data, breath marks or "
            f"timestamps (first at line {min(junk_lines) + 1}){hi}"
        )
    if n_empty:
        notes.append(f"dropped {n_empty} breath mark(s) with no samples (first at line {empty_line})")
    if notes:
        warnings.warn(f"{path}: " + "; ".join(notes), DataRecoveryWarning, stacklevel=3)
    md = {
        "device": "PB-840",
        "format": "pb840",
        "variant": f"{ncol}-column",
        "source_file": path.name,
        "junk_lines": n_junk,
        "undecodable_bytes": int(n_high),
        "null_bytes": int(n_null),
    }
    return _make_recording(
        path, flow=flow, pressure=pres, sampling_rate=sampling_rate,
        subject=path.name.split(".")[0] if subject is None else subject, start_time=start_time,
        metadata=md, markers=markers, nan_policy=nan_policy, max_gap_s=max_gap_s,
    )


def _pb_read_bytes(path: Path) -> tuple[bytes, list, int]:
    """The file's bytes within the size limit, without null bytes, with ``\\n`` line ends and a final
    one; the notes of what was removed; the number of null bytes."""
    size = path.stat().st_size
    if size > _PB_MAX_BYTES:
        raise FileFormatError(path, f"{size} bytes; a PB-840 recording of at most {MAX_RECORDING_SAMPLES} "
                                    f"samples takes at most {_PB_MAX_BYTES} bytes")
    raw = path.read_bytes()
    if not raw[:4096].strip(b" \t\r\n\x00") and not raw.strip(b" \t\r\n\x00"):
        raise FileFormatError(path, "empty file: expected PB-840 'flow, pressure' lines")
    notes: list[str] = []
    n_null = raw.count(b"\x00") if b"\x00" in raw else 0
    if n_null:
        raw = raw.replace(b"\x00", b"")
        notes.append(f"removed {n_null} null byte(s)")
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not raw.endswith(b"\n"):
        raw += b"\n"
    return raw, notes, n_null


def _pb_layout(raw: bytes) -> tuple[int, datetime | None]:
    """2 or 3 columns (a time of day on every line), and the start time the first such line gives."""
    for ln in raw[:4096].split(b"\n", 8)[:8]:
        m = _PB3_PREFIX_RE.match(ln)
        if m:
            try:
                return 3, datetime.fromisoformat(m.group(1).decode())
            except ValueError:
                return 3, None
    return 2, None


def _pb_data_lines(raw, a, starts, ends, ncol):
    """(flow, pressure, candidate mask, data line indices, junk line indices) of the data lines.

    Candidate data lines: the usual layout first, a line-by-line check when that fails.
    """
    cand = _pb_candidates_fast(raw, a, starts, ends, ncol)
    buf = _pb_join(raw, a, cand, starts, ends)
    parsed = None
    if _pb_commas_ok(buf, ncol - 1, first_line_only=ncol == 2):
        # 2 columns: pandas itself refuses a line with too many fields (ParserError -> None)
        parsed = _pb_parse(buf, int(np.count_nonzero(cand)), ncol, strict=True)
    if parsed is None:
        cand = _pb_candidates(raw, a, starts, ends, ncol)
        buf = _pb_join(raw, a, cand, starts, ends)
        parsed = _pb_parse(buf, int(np.count_nonzero(cand)), ncol)
    cand_idx = np.flatnonzero(cand)
    (flow, pres), junk_rows = parsed
    if junk_rows is None:
        return flow, pres, cand, cand_idx, []
    return flow[~junk_rows], pres[~junk_rows], cand, cand_idx[~junk_rows], cand_idx[junk_rows].tolist()


def _pb_other_lines(path, raw, a, starts, ends, other, ncol, data_lines, start_time, junk_lines):
    """Breath marks, timestamps and junk among the non-data lines ``other``.

    Returns the events in file order (line, kind 1 = BS / 2 = BE, breath number), the start time (the
    first timestamp before any data when none was known) and the undecodable bytes of the junk lines;
    junk lines are appended to ``junk_lines``.
    """
    ev_line, ev_kind, ev_bn, rest = _pb_marks_fast(path, raw, a, starts, ends, other, ncol)
    n_high = 0
    for li in rest:
        s = raw[starts[li]:ends[li]].strip()
        if ncol == 3:
            m = _PB3_PREFIX_RE.match(s)
            if m:
                s = s[m.end():].strip()
        if s[:2] == b"BS":
            m = _PB_BS_RE.fullmatch(s)
            if m:
                ev_line.append(li)
                ev_kind.append(1)
                ev_bn.append(_pb_breath_number(path, m.group(1), li))
                continue
        elif not s:
            continue  # blank line
        elif _PB_BE_RE.fullmatch(s):
            ev_line.append(li)
            ev_kind.append(2)
            ev_bn.append(-1)
            continue
        elif len(s) >= 19 and s[4:5] == b"-":
            ts = _pb_ts(s)
            if ts is not None:
                if start_time is None and (data_lines.size == 0 or data_lines[0] > li):
                    start_time = ts
                continue
        junk_lines.append(li)
        n_high += len(s) - len(s.translate(None, _HIGH_BYTES))
    if rest:  # events were found in two passes: put them back in file order
        order = np.argsort(np.asarray(ev_line), kind="stable")
        ev_line = [ev_line[i] for i in order]
        ev_kind = [ev_kind[i] for i in order]
        ev_bn = [ev_bn[i] for i in order]
    return ev_line, ev_kind, ev_bn, start_time, n_high


def _pb_check_counts(path, n: int, n_junk: int, n_lines: int, junk_lines: list) -> None:
    """Refuse a file with no data line, or with more junk lines than data lines (and at least 20)."""
    if n == 0:
        raise FileFormatError(
            path, f"no 'flow, pressure' data lines found ({n_lines} lines, {n_junk} not understood); "
            "is this a PB-840 text file?", line=(min(junk_lines) + 1) if junk_lines else None,
        )
    if n_junk > max(n, 20):
        raise FileFormatError(
            path, f"{n_junk} of {n_lines} lines are not PB-840 data, marks or timestamps; "
            "is this a PB-840 text file?", line=min(junk_lines) + 1,
        )


def _pb_breath_number(path, digits: bytes, line_index: int) -> int:
    """The breath number of a ``BS, S:<n>,`` line, or one error naming the file and line."""
    d = digits.lstrip(b"0") or b"0"
    if len(d) > _PB_MAX_BREATH_DIGITS:
        shown = d[:24].decode() + ("..." if len(d) > 24 else "")
        raise FileFormatError(
            path, f"breath number {shown} ({len(d)} digits) is not a plausible PB-840 breath count; "
            f"expected at most {_PB_MAX_BREATH_DIGITS} digits", line=line_index + 1,
        )
    return int(d)


def _pb_check_values(path, flow: np.ndarray, pres: np.ndarray, data_lines: np.ndarray) -> None:
    """Refuse a number too large for a float (parsed as infinity), naming its line."""
    for name, arr in (("flow", flow), ("pressure", pres)):
        bad = np.isinf(arr)
        if bad.any():
            i = int(np.argmax(bad))
            raise FileFormatError(
                path, f"{name} value too large to be a number (more than 1e308); expected 'flow, pressure' "
                "in L/min and cmH2O", line=int(data_lines[i]) + 1,
            )


def _pb_marks_fast(path, raw, a, starts, ends, other, ncol):
    """Breath marks among the non-data lines, in bulk for the usual spellings (``BS, S:<n>,`` and
    ``BE`` at the start of the line). Returns the events found and the lines left for one-by-one
    classification."""
    if ncol != 2 or other.size == 0:
        return [], [], [], other.tolist()
    st = starts[other]
    first = a[st]
    second = a[np.minimum(st + 1, a.size - 1)]
    is_be = (first == 66) & (second == 69) & (ends[other] - st == 2)
    is_bs = (first == 66) & (second == 83)
    bs_idx = np.flatnonzero(is_bs)
    bs_texts = [raw[s:e] for s, e in zip(st[bs_idx].tolist(), ends[other[bs_idx]].tolist(), strict=True)]
    joined = b"\n".join(bs_texts) + b"\n"
    if bs_texts and _PB_BS_LINES_RE.fullmatch(joined) is None:
        is_bs[:] = False  # unusual spelling somewhere: classify those lines one by one
        bs_idx = bs_idx[:0]
        numbers = []
    else:
        found = re.findall(rb"S:(\d+)", joined) if bs_texts else []
        if found and max(map(len, found)) > _PB_MAX_BREATH_DIGITS:
            numbers = [_pb_breath_number(path, x, int(other[bs_idx[i]])) for i, x in enumerate(found)]
        else:
            numbers = [int(x) for x in found]
    kind = np.zeros(other.size, np.int8)
    kind[is_be] = 2
    kind[bs_idx] = 1
    bn = np.full(other.size, -1, np.int64)
    bn[bs_idx] = numbers
    found = kind > 0
    rest = other[~found].tolist()
    return other[found].tolist(), kind[found].tolist(), bn[found].tolist(), rest


def _pb_candidates_fast(raw: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, ncol: int) -> np.ndarray:
    """Candidate data lines, assuming the usual layout.

    2-column files: breath marks start their line with ``B``, so every line that does not, that is not
    the leading timestamp and that holds only number characters is a candidate. When characters other
    than those of numbers exist outside the ``B`` lines (and always for 3-column files), the lines that
    hold them are found from a translated copy of the buffer. The caller then checks the commas.
    """
    table = _PB_SPECIAL[ncol]
    if ncol == 2:
        first = a[starts]
        is_b = first == 66  # 'B'
        cand = ~is_b
        if _pb_ts(raw[: ends[0]].strip()) is not None:
            cand[0] = False
        cand &= first != 44  # an empty first field (', 9.11')
        cand &= ends > starts  # blank lines
        long = np.flatnonzero(ends - starts >= 19)  # timestamp lines (YYYY-MM-DD-...) anywhere
        if long.size:
            cand[long[a[starts[long] + 4] == 45]] = False
        t = raw.translate(table)
        n_special = t.count(b"\x01")
        if n_special == 0:
            return cand
        other = np.flatnonzero(is_b)
        in_b = b"".join([t[s:e] for s, e in zip(starts[other].tolist(), ends[other].tolist(), strict=True)])
        if in_b.count(b"\x01") == n_special:
            return cand
        # odd characters outside the B lines too: find the lines that hold them (0/1 bytes seen as bools)
        special = np.flatnonzero(np.frombuffer(t, bool))
        cand[np.searchsorted(ends, special)] = False
        return cand
    cand = np.ones(ends.size, bool)
    special = np.flatnonzero(np.frombuffer(raw.translate(table), bool))
    if special.size:
        cand[np.searchsorted(ends, special)] = False
    return cand


def _pb_candidates(raw: bytes, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, ncol: int) -> np.ndarray:
    """Candidate data lines, line by line (vectorised): number characters only, ``ncol - 1`` commas."""
    n_lines = ends.size
    commas = np.flatnonzero(a == 44)
    per_line = np.bincount(np.searchsorted(ends, commas), minlength=n_lines)[:n_lines]
    cand = per_line == ncol - 1
    special = np.flatnonzero(np.frombuffer(raw.translate(_PB_SPECIAL[ncol]), bool))
    if special.size:
        cand[np.searchsorted(ends, special)] = False
    return cand


def _pb_join(raw: bytes, a: np.ndarray, cand: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The candidate lines as one buffer (slices between the other lines, or a byte mask when many)."""
    other = np.flatnonzero(~cand)
    if other.size == 0:
        return raw
    if other.size < 20000:
        o_st = starts[other].tolist()
        o_en = (ends[other] + 1).tolist()
        pieces = [raw[0:o_st[0]]]
        pieces += [raw[e:s] for e, s in zip(o_en[:-1], o_st[1:], strict=True)]
        pieces.append(raw[o_en[-1]:])
        return b"".join(pieces)
    keep = np.repeat(cand, (ends - starts + 1))
    return a[keep].tobytes()


def _pb_commas_ok(buf: bytes, k: int, first_line_only: bool = False) -> bool:
    """True when every line of ``buf`` holds exactly ``k`` commas (commas and newlines alternate).

    ``first_line_only`` checks the first line alone (pandas takes extra fields on the first line for
    an index; on later lines it refuses them itself)."""
    if not buf:
        return True
    if first_line_only:
        return buf[: buf.find(b"\n")].count(b",") == k
    b = np.frombuffer(buf, np.uint8)
    c = np.flatnonzero(b == 44)
    n = np.flatnonzero(b == 10)
    if c.size != k * n.size:
        return False
    last = c[k - 1::k]  # the last comma of each line
    first = c[0::k]
    return bool((last < n).all() and (n[:-1] < first[1:]).all())


def _pb_parse(buf: bytes, n_rows: int, ncol: int, strict: bool = False):
    """((flow, pressure), junk rows or None) for the ``n_rows`` lines of ``buf``.

    pandas' C parser on the whole buffer; empty or missing fields make a second pass that reads them
    as NaN (junk rows). Anything stranger returns None when ``strict``, else falls back to parsing
    line by line.
    """
    if n_rows == 0:
        return (np.empty(0), np.empty(0)), None
    names = ["f", "p"] if ncol == 2 else ["t", "f", "p"]
    for na_filter in (False, True):
        try:
            df = pd.read_csv(
                _io.BytesIO(buf), header=None, names=names, usecols=None if ncol == 2 else ["f", "p"], engine="c",
                skip_blank_lines=False, na_filter=na_filter, keep_default_na=False, na_values=[""],
                dtype={"f": np.float64, "p": np.float64}, index_col=False, low_memory=False,
            )
        except pd.errors.ParserError:
            break
        except ValueError:
            continue
        if df.shape[0] != n_rows:
            break
        values = (df["f"].to_numpy(dtype=np.float64), df["p"].to_numpy(dtype=np.float64))
        junk = (np.isnan(values[0]) | np.isnan(values[1])) if na_filter else None
        if junk is not None and not junk.any():
            junk = None
        return values, junk
    if strict:
        return None
    return _pb_parse_lines(buf.split(b"\n")[:n_rows], ncol)


def _pb_parse_lines(lines: list[bytes], ncol: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    out = np.full((len(lines), 2), np.nan)
    junk = np.zeros(len(lines), bool)
    for i, ln in enumerate(lines):
        parts = ln.split(b",")
        if len(parts) != ncol:
            junk[i] = True
            continue
        try:
            out[i] = float(parts[-2]), float(parts[-1])
        except ValueError:
            junk[i] = True
            continue
        if not (math.isfinite(out[i, 0]) and math.isfinite(out[i, 1])):
            junk[i] = True
    return (out[:, 0].copy(), out[:, 1].copy()), junk


def _pb_markers(ev_line: list, ev_kind: list, ev_bn: list, data_lines: np.ndarray, n: int):
    """Device markers from BS/BE lines (vectorised).

    A breath starts at the first data line after its BS and ends (exclusive) at the data line count
    before the BE that follows it; a BS followed by another BS (or by the end of the file) has no end
    mark (-1). A BE without an open breath (the file began inside a breath) is ignored. Breaths without
    samples are dropped.
    """
    empty = {"start_idx": np.empty(0, np.int64), "end_idx": np.empty(0, np.int64),
             "device_breath": np.empty(0, np.int64)}
    if not ev_line:
        return empty, 0, None
    line = np.asarray(ev_line, np.int64)
    kind = np.asarray(ev_kind, np.int8)
    bn = np.asarray(ev_bn, np.int64)
    pos = np.searchsorted(data_lines, line)
    bs = np.flatnonzero(kind == 1)
    if bs.size == 0:
        return empty, 0, None
    nxt = np.minimum(bs + 1, kind.size - 1)
    closed = (bs + 1 < kind.size) & (kind[nxt] == 2)
    start = pos[bs]
    end = np.where(closed, pos[nxt], -1)
    next_start = np.append(start[1:], n)
    bad = (start >= n) | (end == start) | (start >= next_start)
    n_empty = int(bad.sum())
    empty_line = int(line[bs[bad][0]]) + 1 if n_empty else None
    keep = ~bad
    return {"start_idx": start[keep], "end_idx": end[keep], "device_breath": bn[bs][keep]}, n_empty, empty_line
