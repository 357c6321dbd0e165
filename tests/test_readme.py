"""The README's quickstart and its typical command-line session run as written (on smaller sizes).

Each replacement below shrinks one size of the README's code; the test fails if the README no longer holds
the text it replaces, so the README and this test change together.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
from pathlib import Path

import pytest

from ventgen.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
pytestmark = pytest.mark.usefixtures("one_thread")


def _block(after: str, lang: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    return m.group(1)


def _shrink(code: str, replacements: dict) -> str:
    for old, new in replacements.items():
        assert old in code, f"README changed: {old!r} is no longer in the block; update tests/test_readme.py"
        code = code.replace(old, new)
    return code


def test_python_quickstart_runs(tmp_path, monkeypatch):
    code = _shrink(_block("## Python quickstart", "python"), {
        "n_subjects=3, minutes=20": "n_subjects=2, minutes=3",
        "epochs=10": "epochs=1",
        '"patients": 4, "minutes": 10': '"patients": 1, "minutes": 1',
    })
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (Python quickstart)", "exec"), namespace)  # noqa: S102 - our own README
    assert (tmp_path / "model.pt").is_file()
    assert (tmp_path / "cohort" / "manifest.csv").is_file()
    assert namespace["nodes"].shape == (len(namespace["cycles"]), 3)


def test_command_line_session_runs(tmp_path, monkeypatch, capsys):
    code = _shrink(_block("A typical session:", "bash"), {
        "--subjects 3 --minutes 60": "--subjects 2 --minutes 4",
        "--epochs 20": "--epochs 1",
    })
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cohort.json").write_text(json.dumps({
        "patients": 1, "minutes": 1, "composition": {"normal breathing": 1.0},
        "reference": "cycles.h5"}))
    for line in code.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        argv = shlex.split(line)
        assert argv[0] == "ventgen"
        args = [a2 for a in argv[1:] for a2 in (sorted(glob.glob(a)) if "*" in a else [a])]
        rc = main(["--quiet", *args])
        assert rc == 0, f"{line}: exit {rc}: {capsys.readouterr().err}"
    assert (tmp_path / "fidelity" / "fidelity.json").is_file()
