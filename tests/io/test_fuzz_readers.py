"""Fuzz the CSV and PB-840 readers: random bytes and mutations of small valid files.

Every outcome must be a :class:`ventgen.Recording` or a ventgen error (:class:`ventgen.errors.VentgenError`),
never another exception (warnings are allowed). The valid files are generated here, in the layout of
the real PB-840 exports (a timestamp line, ``BS, S:<n>,`` / ``BE`` breath marks, ``flow, pressure``
lines at 50 Hz, or the 3-column variant with a time of day on every line).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ventgen import Recording, read_recording
from ventgen.errors import VentgenError

SETTINGS = settings(max_examples=120, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NAN_POLICIES = st.sampled_from(["raise", "keep", "interpolate"])


def _breaths(n_breaths=3, per=25):
    t = np.arange(per) / 50
    flow = np.round(40 * np.sin(np.pi * t / t[-1]) - 5, 2)
    pres = np.round(5 + 10 * (t < 0.3), 2)
    return [(flow, pres)] * n_breaths


def valid_pb840(three_columns: bool = False) -> bytes:
    """A small PB-840 text export."""
    lines = []
    if not three_columns:
        lines.append("2016-05-05-13-25-36.944930")
    k = 0
    for b, (flow, pres) in enumerate(_breaths()):
        if not three_columns:
            lines.append(f"BS, S:{396 + b},")
        for f, p in zip(flow, pres, strict=True):
            if three_columns:
                s = 8.421956857 + 0.02 * k
                lines.append(f"2015-06-03 17:33:{s:012.9f}, {f:.2f}, {p:.2f}")
            else:
                lines.append(f"{f:.2f}, {p:.2f}")
            k += 1
        if not three_columns:
            lines.append("BE")
    return ("\n".join(lines) + "\n").encode()


def valid_csv() -> bytes:
    rows = ["time_s,flow_lpm,paw_cmh2o"]
    k = 0
    for flow, pres in _breaths():
        for f, p in zip(flow, pres, strict=True):
            rows.append(f"{k * 0.02:.2f},{f},{p}")
            k += 1
    return ("\n".join(rows) + "\n").encode()


TOKENS = [b"9" * 400, b"99999999999999999999999", b"-1" + b"0" * 320, b"1e400", b"NaN", b"nan", b"inf", b"-inf",
          b",", b",,", b"\n", b"\r", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"BS, S:", b"BE", b"BS, S:1,\n",
          b"-", b".", b"+", b" ", b'"', b"e", b"2016-02-17-08-43-02.525325\n", b"time_s", b"flow_lpm", b"\t", b";",
          b"0.00", b"1e-300", b"-0", b"0x1F", b"\x1b", "\u00e9".encode()]


@st.composite
def mutated(draw, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate", "replace"]))
        n = len(data)
        i = draw(st.integers(0, max(n - 1, 0)))
        if op == "flip" and n:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete" and n:
            del data[i:i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(st.sampled_from(TOKENS))
        elif op == "truncate":
            del data[i:]
        elif op == "duplicate" and n:
            j = draw(st.integers(i, min(n, i + 200)))
            data[j:j] = data[i:j]
        elif op == "replace" and n:
            data[i:i + draw(st.integers(1, 10))] = draw(st.sampled_from(TOKENS))
    return bytes(data)


def _read(data: bytes, fmt: str, nan_policy: str):
    """Read ``data`` as ``fmt`` from a fresh folder: a Recording or a ventgen error, nothing else."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / ("x.csv" if fmt == "csv" else "x.txt")
        p.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = read_recording(p, format=fmt, sampling_rate=50, nan_policy=nan_policy)
            except VentgenError:
                return None
    assert isinstance(out, Recording)
    assert out.sampling_rate == 50.0 and out.n_samples >= 1
    return out


def test_the_valid_files_are_valid():
    assert _read(valid_csv(), "csv", "raise").n_samples == 75
    rec = _read(valid_pb840(), "pb840", "raise")
    assert rec.n_samples == 75 and rec.n_markers == 3
    assert _read(valid_pb840(three_columns=True), "pb840", "raise").n_samples == 75


#: Text made of the characters these formats hold, so that random input reaches the parsers.
FORMAT_TEXT = st.text(alphabet="0123456789.,-+ \n\r:BSEe_flowpaw", max_size=2000).map(str.encode)


@pytest.mark.parametrize("fmt", ["csv", "pb840"])
@SETTINGS
@given(data=st.one_of(st.binary(max_size=3000), FORMAT_TEXT), nan_policy=NAN_POLICIES)
def test_random_bytes(fmt, data, nan_policy):
    _read(data, fmt, nan_policy)


@SETTINGS
@given(data=mutated(valid_csv()), nan_policy=NAN_POLICIES)
@example(data=valid_csv().replace(b",15\n", b"," + b"9" * 400 + b"\n", 1), nan_policy="raise")  # an int wider
def test_mutated_csv(data, nan_policy):  # than a float once made pandas' to_numeric raise OverflowError
    _read(data, "csv", nan_policy)


@SETTINGS
@given(data=mutated(valid_pb840()), nan_policy=NAN_POLICIES)
def test_mutated_pb840(data, nan_policy):
    _read(data, "pb840", nan_policy)


@SETTINGS
@given(data=mutated(valid_pb840(three_columns=True)), nan_policy=NAN_POLICIES)
def test_mutated_pb840_three_columns(data, nan_policy):
    _read(data, "pb840", nan_policy)
