"""Run every adversarial case of the safety audit through the ``ventgen`` command; print the table.

Each case builds its bad input in a fresh folder, runs ``python -m ventgen.cli ARGS`` there (a new
process, as a user would), and the table gives the exit status, the last line printed on stderr and
what changed in the folder (files left behind or removed). Cases live in ``audit_cases_*.py`` beside
this script, each a list ``CASES`` of :class:`Case`.

Usage::

    .venv/bin/python benchmarks/audit_bad_inputs.py            # every case, a Markdown table
    .venv/bin/python benchmarks/audit_bad_inputs.py -k spec    # only cases whose name holds 'spec'
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent


@dataclass
class Case:
    """One adversarial input: ``setup(folder)`` builds it, ``argv`` runs on it (``{d}`` = the folder).

    ``expect`` is the exit status a correct ventgen gives (2: one clear error line; 0: accepted,
    possibly with a warning).
    """

    name: str
    setup: Callable[[Path], None]
    argv: list[str]
    expect: int = 2
    timeout: float = 300.0
    env: dict = field(default_factory=dict)


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(HERE.glob("audit_cases_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
        cases.extend(mod.CASES)
    return cases


def _snapshot(d: Path) -> set[str]:
    return {str(p.relative_to(d)) + ("/" if p.is_dir() else "") for p in d.rglob("*")}


def run_case(case: Case) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        case.setup(d)
        before = _snapshot(d)
        argv = [a.replace("{d}", str(d)) for a in case.argv]
        env = {**os.environ, "VENTGEN_PROGRESS": "0", "OMP_NUM_THREADS": "1", **case.env}
        t0 = time.perf_counter()
        try:
            p = subprocess.run([sys.executable, "-m", "ventgen.cli", *argv], cwd=d, env=env, capture_output=True,
                               text=True, timeout=case.timeout)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = "timeout", ""
        after = _snapshot(d)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        added = sorted(after - before)
        removed = sorted(before - after)
        left = ", ".join([f"+{a}" for a in added][:4] + [f"-{r}" for r in removed][:4]) or "none"
        return {
            "case": case.name,
            "exit": rc,
            "ok": rc == case.expect and (rc != 2 or not any(ln.startswith("Traceback") for ln in lines)),
            "line": (lines[-1] if lines else "").replace(str(d) + "/", "").replace(str(d), "."),
            "n_lines": len(lines),
            "left": left.replace(str(d), "."),
            "seconds": time.perf_counter() - t0,
        }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only cases whose name contains this text")
    args = ap.parse_args(argv)
    cases = [c for c in load_cases() if args.k in c.name]
    print("| case | exit | lines | the last line printed on stderr | files left behind (+) or removed (-) |")
    print("|---|---|---|---|---|")
    bad = 0
    for case in cases:
        r = run_case(case)
        bad += not r["ok"]
        flag = "" if r["ok"] else " **(expected %s)**" % case.expect
        line = r["line"].replace("|", "\\|")
        print(f"| {r['case']} | {r['exit']}{flag} | {r['n_lines']} | {line} | {r['left']} |", flush=True)
    print(f"\n{len(cases) - bad} of {len(cases)} cases as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
