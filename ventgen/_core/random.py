"""``random_state`` handling: turned into one :class:`numpy.random.Generator`, never a global seed."""

from __future__ import annotations

import numpy as np

from ..errors import VentgenTypeError

__all__ = ["check_random_state"]


def check_random_state(random_state) -> np.random.Generator:
    """Turn ``random_state`` (None, int, SeedSequence or Generator) into a :class:`numpy.random.Generator`.

    Examples
    --------
    >>> bool(check_random_state(0).integers(10) == check_random_state(0).integers(10))
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer, np.random.SeedSequence)):
        if isinstance(random_state, (int, np.integer)) and random_state < 0:
            raise VentgenTypeError(f"random_state must be a non-negative integer, got {random_state}")
        return np.random.default_rng(random_state)
    raise VentgenTypeError(
        f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}"
    )
