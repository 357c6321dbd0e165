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

from .errors import SchemaError

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


def validate(document, name: str, *, source: str = "document") -> None:
    """Validate ``document`` against schema ``name``; raise :class:`SchemaError` listing every problem.

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
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        parts = []
        for e in errors:
            loc = "/".join(str(p) for p in e.absolute_path) or "(top level)"
            parts.append(f"{loc}: {e.message}")
        raise SchemaError(f"{source} does not follow schema {name!r}: " + "; ".join(parts))
