"""Errors and warnings raised at ventgen's public boundary.

Every error a user can provoke with bad input is a subclass of :class:`VentgenError` and of the
matching builtin (``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working. Messages are
one line and name the file, the line or column, and what was expected.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "VentgenError",
    "VentgenValueError",
    "VentgenTypeError",
    "FileFormatError",
    "NotFittedError",
    "SchemaError",
    "VentgenWarning",
    "DataRecoveryWarning",
]


class VentgenError(Exception):
    """Base class of every error ventgen raises on purpose."""


class VentgenValueError(VentgenError, ValueError):
    """An argument or input has the right type but an unusable value."""


class VentgenTypeError(VentgenError, TypeError):
    """An argument or input has the wrong type."""


class FileFormatError(VentgenValueError):
    """A file cannot be read as the format it claims to be.

    Parameters
    ----------
    path : str or path-like
        The file.
    message : str
        What is wrong, and what was expected.
    line : int, optional
        1-based line number (text formats).
    field : str, optional
        Column, attribute or dataset name.
    """

    def __init__(self, path, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", {field!r}"
        super().__init__(f"{where}: {message}")


class NotFittedError(_SklearnNotFittedError, VentgenValueError):
    """An estimator is used before ``fit`` (or ``load``): scikit-learn's ``NotFittedError``, and a
    :class:`VentgenValueError`."""


class SchemaError(VentgenValueError):
    """A document (metadata, spec, HDF5 layout) does not follow its JSON Schema."""


class VentgenWarning(UserWarning):
    """Base class of ventgen's warnings."""


class DataRecoveryWarning(VentgenWarning):
    """A recoverable defect in the input was repaired; the message says how much was affected."""
