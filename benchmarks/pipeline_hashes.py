"""Hash every output of the pipeline, run through the ``ventgen`` command with fixed seeds.

A refactoring that keeps behaviour must keep these bytes: run this before and after and compare. The
settings are spelled out below (one torch thread, so that training is bit-reproducible).

    .venv/bin/python benchmarks/pipeline_hashes.py > before.txt
    ... change the code ...
    .venv/bin/python benchmarks/pipeline_hashes.py | diff before.txt -
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC = {"patients": 2, "minutes": 2, "composition": {"normal breathing": 0.5, "respiratory event": 0.5}}
STEPS = [
    ["simulate", "-o", "sim", "--subjects", "2", "--minutes", "4", "--seed", "3"],
    ["segment", "sim", "-o", "cycles.h5", "--breaths-csv", "breaths.csv"],
    ["train", "cycles.h5", "-o", "model.pt", "--epochs", "2", "--seed", "0", "--device", "cpu", "--maps", "4x4,2x2"],
    ["generate", "model.pt", "--spec", "spec.json", "--reference", "cycles.h5", "-o", "cohort", "--seed", "1"],
    ["evaluate-cohort", "cohort", "--real", "cycles.h5", "-o", "fidelity", "--seed", "0"],
    ["report", "-o", "report", "--model", "model.pt", "--cycles", "cycles.h5", "--cohort", "cohort",
     "--fidelity", "fidelity"],
]
# files whose bytes legitimately change from run to run (none expected; listed if found)
VOLATILE: set[str] = set()


def main() -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "VENTGEN_PROGRESS": "0",
           "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "spec.json").write_text(json.dumps(SPEC))
        for argv in STEPS:
            p = subprocess.run([sys.executable, "-m", "ventgen.cli", "--quiet", *argv], cwd=d, env=env,
                               capture_output=True, text=True)
            print(f"# ventgen {' '.join(argv)} -> exit {p.returncode}")
            if p.returncode:
                print(p.stderr, file=sys.stderr)
                return 1
        for f in sorted(d.rglob("*")):
            if f.is_file() and f.name != "spec.json":
                rel = f.relative_to(d).as_posix()
                if rel.endswith((".png", ".html")):
                    continue  # figures: matplotlib versions differ; the numbers behind them are hashed
                h = hashlib.sha256(f.read_bytes()).hexdigest()[:16]
                print(f"{h}  {rel}{'  (volatile)' if rel in VOLATILE else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
