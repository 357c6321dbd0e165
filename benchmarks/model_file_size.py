"""What the stored generation data (issue 15) add to a model file, for the default preset.

    .venv/bin/python benchmarks/model_file_size.py [minutes per subject, default 60]

Trains one epoch (the size does not depend on training) on simulated cycles of 3 subjects and prints
the model file's size with and without its ``"generation"`` entry.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

import ventgen


def main(minutes: float) -> None:
    torch.set_num_threads(1)
    recs = ventgen.simulate_cohort(n_subjects=3, minutes=minutes, random_state=0, progress=False)
    cycles = ventgen.CycleSet.concatenate([ventgen.extract_cycles(r, ventgen.segment_breaths(r)) for r in recs])
    model = ventgen.HTVAE(epochs=1, random_state=0, device="cpu", progress=False).fit(cycles)
    d = Path(tempfile.mkdtemp())
    model.save(d / "with.pt")
    state = torch.load(d / "with.pt", weights_only=True)
    state.pop("generation")
    torch.save(state, d / "without.pt")
    a, b = (d / "with.pt").stat().st_size, (d / "without.pt").stat().st_size
    print(f"{len(cycles)} training breaths, maps {model.maps_}, latent_dim {model.config_.latent_dim}, "
          f"{len(model.generation_.runs)} labels")
    print(f"model file {b / 1024:.0f} KiB without generation data, {a / 1024:.0f} KiB with: +{(a - b) / 1024:.0f} KiB "
          f"({(a - b) / len(cycles):.1f} bytes per training breath; arrays {model.generation_.nbytes() / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
