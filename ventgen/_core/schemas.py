"""Access to the JSON Schemas in ``data_schemas/`` and validation through :mod:`jsonschema`.

The schemas are the single definition of every file format and document ventgen reads or writes;
code validates against them instead of re-stating the rules.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema

from ..errors import SchemaError

__all__ = ["load_schema", "validate", "schema_names"]


def _schema_dir():
    """``data_schemas/`` beside the source tree (a checkout), else the copy installed in the package."""
    here = Path(__file__).resolve().parents[1] / "data_schemas"
    if here.is_dir():
        return here
    return resources.files("ventgen.data_schemas")


def schema_names() -> list[str]:
    """Names of the available schemas (file names without ``.schema.json``)."""
    return sorted(
        f.name[: -len(".schema.json")] for f in _schema_dir().iterdir() if f.name.endswith(".schema.json")
    )


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """Load ``data_schemas/<name>.schema.json``.

    Examples
    --------
    >>> load_schema("recording_metadata")["title"]
    'ventgen recording metadata'
    """
    res = _schema_dir() / f"{name}.schema.json"
    if not res.is_file():
        raise SchemaError(f"no schema named {name!r}; available: {', '.join(schema_names())}")
    return json.loads(res.read_text(encoding="utf-8"))


_MAX_PROBLEMS = 6
_MAX_PROBLEM_CHARS = 160


def _leaf(error):
    """The most specific problem under a ``oneOf``/``anyOf``: the branch with the fewest problems (the
    deepest one on a tie) is the one the document meant, and its deepest problem is the one to name."""
    while error.context:
        branches: dict = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        best = min(branches.values(), key=lambda errs: (len(errs), -max(len(e.absolute_path) for e in errs)))
        error = max(best, key=lambda e: len(e.absolute_path))
    return error


def _problem(error) -> str:
    """One short line: where (``a/b/0``) and what."""
    leaf = _leaf(error)
    loc = "/".join(str(p) for p in leaf.absolute_path) or "(top level)"
    msg = str(leaf.message)
    value = repr(leaf.instance)
    if len(value) > 40 and value in msg:  # the value itself can be long: shorten it, keep what is wrong
        msg = msg.replace(value, value[:37] + "...")
    msg = " ".join(msg.split())
    if len(msg) > _MAX_PROBLEM_CHARS:
        msg = msg[: _MAX_PROBLEM_CHARS - 3] + "..."
    return f"{loc}: {msg}"


def validate(document, name: str, *, source: str = "document") -> None:
    """Validate ``document`` against schema ``name``; raise :class:`SchemaError` listing the problems.

    The message is one line: each problem names its place in the document (``composition/0/fraction``)
    and, for a choice between alternatives, the problem of the alternative the document came
    closest to; long values are shortened and at most six problems are listed.

    Parameters
    ----------
    document : object
        JSON-like data (dicts, lists, numbers, strings).
    name : str
        Schema name, e.g. ``"recording_metadata"``.
    source : str
        What the document is (a file path, "cohort spec" ...), named in the message.
    """
    schema = load_schema(name)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        parts = list(dict.fromkeys(_problem(e) for e in errors))
        more = len(parts) - _MAX_PROBLEMS
        text = "; ".join(parts[:_MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        raise SchemaError(f"{source} does not follow schema {name!r}: {text}")
