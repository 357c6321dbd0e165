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
    ["train", "cycles.h5", "-o", "model.pt", "--preset", "paper", "--epochs", "2", "--seed", "0", "--device", "cpu",
     "--maps", "4x4,2x2"],
    ["generate", "model.pt", "--spec", "spec.json", "--reference", "cycles.h5", "-o", "cohort", "--seed", "1",
     "--latent", "data", "--nodes", "members"],
    ["evaluate-cohort", "cohort", "--real", "cycles.h5", "-o", "fidelity", "--seed", "0"],
    ["report", "-o", "report", "--model", "model.pt", "--cycles", "cycles.h5", "--cohort", "cohort",
     "--fidelity", "fidelity"],
]
# Wall-clock timings are the one thing allowed to differ between two runs: they are dropped from the
# JSON documents and the model file before hashing, and the run folder's path is written as ".".
TIMING_KEYS = {"time_s", "seconds", "breaths_per_s", "duration_s", "elapsed_s"}


def _drop_timings(obj):
    if isinstance(obj, dict):
        return {k: _drop_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_drop_timings(v) for v in obj]
    return obj


def _canonical(f: Path, d: Path) -> bytes:
    """The bytes that must not change: the file, less its timings (JSON, model files)."""
    if f.suffix == ".json":
        doc = json.loads(f.read_text(encoding="utf-8").replace(str(d), "."))
        return json.dumps(_drop_timings(doc), sort_keys=True).encode()
    if f.suffix == ".pt":
        import torch

        state = torch.load(f, weights_only=True, map_location="cpu")
        h = hashlib.sha256()
        stack = [("", _drop_timings(state))]
        while stack:
            key, v = stack.pop()
            if isinstance(v, dict):
                stack.extend((f"{key}/{k}", v[k]) for k in sorted(v, reverse=True))
            elif isinstance(v, torch.Tensor):
                h.update(key.encode() + v.detach().cpu().contiguous().numpy().tobytes())
            else:
                h.update(key.encode() + repr(v).encode())
        return h.digest()
    return f.read_bytes()


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
                h = hashlib.sha256(_canonical(f, d)).hexdigest()[:16]
                print(f"{h}  {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
