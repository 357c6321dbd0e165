"""The cohort specification file (JSON), and the names a cohort folder's files may have.

Only the file access: the document is validated by :func:`ventgen.generate.spec.spec_from_dict`
(through :func:`ventgen.read_cohort_spec`).
"""

from __future__ import annotations

import re
from pathlib import Path

from .._core import read_json_document

__all__ = ["read_spec_document", "RECORDING_FILE", "PLAIN_NAME"]

#: A file of a cohort folder: a plain, non-hidden name in the folder itself; a recording's ends in
#: .h5 or .csv.
PLAIN_NAME = re.compile(r"^[^./\\\x00][^/\\\x00]*$")
RECORDING_FILE = re.compile(r"^[^./\\\x00][^/\\\x00]*\.(?:h5|csv|hea|edf)$")


def read_spec_document(path) -> object:
    """The parsed JSON document of a cohort spec file (every number is checked later, by field).

    Examples
    --------
    >>> import json, os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "spec.json")
    >>> with open(p, "w") as f:
    ...     _ = f.write(json.dumps({"patients": 2, "breaths": 10, "composition": {"apnea": 1}}))
    >>> read_spec_document(p)["patients"]
    2
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder; expected a JSON cohort spec file", str(path))
    if not path.is_file():
        raise FileNotFoundError(2, "no such cohort spec file", str(path))
    return read_json_document(path, "cohort spec", nonfinite=True)
