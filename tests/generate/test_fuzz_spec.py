"""Fuzzing the cohort spec parser: any bytes, any mutation of a valid spec and any JSON document end in
a CohortSpec or a ventgen error (or FileNotFoundError), never another exception (issue 13)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ventgen.errors import VentgenError
from ventgen.generate import CohortSpec, read_cohort_spec

VALID = {"patients": 3, "minutes": 2.5, "level": 1, "sampling_rate": 50, "patient_variability": 0.3,
         "node_concentration": 2.0, "name": "fuzz", "reference": "cycles.h5",
         "composition": [{"class": "normal breathing", "fraction": 0.5}, {"class": "apnea", "fraction": 0.25},
                         {"level": 2, "node": 3, "fraction": 0.25}]}
VALID_TEXT = json.dumps(VALID).encode()
#: What a mutation inserts: numbers JSON forbids or Python's json accepts, huge numbers, deep nesting,
#: duplicate keys, a byte-order mark, broken UTF-8, structural characters.
TOKENS = [b"NaN", b"-Infinity", b"Infinity", b"1e999", b"-1e999", b"1" + b"0" * 400, b"1" + b"0" * 5000,
          b"1e9", b"-0", b"true", b"null", b"[" * 5000 + b"]" * 5000, b"{" * 50, b"]" * 50,
          b'"patients": 2, "patients": 3, ', b'"a": 1, "a": 1', b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3", b"\x00",
          b'"', b"\\", b",", b":", b"{}", b"[]", b'"\\ud800"', b"0.1e-400"]

EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    database=None)
_counter = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_spec")


def _parse_file(folder, data: bytes):
    path = folder / f"spec_{next(_counter)}.json"
    path.write_bytes(data)
    try:
        return _parse(path)
    finally:
        path.unlink()


def _parse(spec):
    try:
        out = read_cohort_spec(spec)
    except (VentgenError, FileNotFoundError) as exc:
        assert "\n" not in str(exc), str(exc)
        return exc
    assert isinstance(out, CohortSpec)
    assert isinstance(read_cohort_spec(out.to_dict()), CohortSpec)  # its JSON form is accepted back
    return out


@EXAMPLES
@given(data=st.binary(max_size=400))
def test_random_bytes(folder, data):
    _parse_file(folder, data)


@st.composite
def mutated(draw):
    data = bytearray(VALID_TEXT)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "replace"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        else:  # replace the value of one field by a token
            key = draw(st.sampled_from([b'"patients": 3', b'"minutes": 2.5', b'"fraction": 0.5', b'"node": 3',
                                        b'"level": 2', b'"sampling_rate": 50', b'"node_concentration": 2.0']))
            i = data.find(key)
            if i >= 0:
                start = i + key.index(b":") + 2
                data[start:i + len(key)] = draw(st.sampled_from(TOKENS))
    return bytes(data)


@EXAMPLES
@given(data=mutated())
def test_mutations_of_a_valid_spec(folder, data):
    _parse_file(folder, data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@EXAMPLES
@given(doc=json_values)
def test_random_json_documents(folder, doc):
    _parse_file(folder, json.dumps(doc).encode())
    if isinstance(doc, dict):
        _parse(doc)


@EXAMPLES
@given(key=st.sampled_from(sorted(VALID) + ["breaths", "unknown"]), value=json_values,
       drop=st.sampled_from([None, "minutes", "composition", "patients"]))
def test_one_field_of_a_valid_spec_replaced(folder, key, value, drop):
    doc = {**VALID, key: value}
    doc.pop(drop, None)
    _parse_file(folder, json.dumps(doc).encode())
    _parse(doc)


def test_the_valid_spec_is_valid(folder):
    assert isinstance(_parse_file(folder, VALID_TEXT), CohortSpec)
