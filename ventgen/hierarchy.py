"""Label hierarchies (true class trees) and the distances between their classes.

A :class:`LabelTree` maps each fine class to its chain of ancestors, all leaves at the same depth,
with an implicit root above the top level. The ventilation tree of the paper has 10 classes under 3
super-classes; the image trees live beside their adapters in :mod:`ventgen.datasets`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import VentgenTypeError, VentgenValueError

__all__ = [
    "LabelTree",
    "VENTILATION_TREE",
    "VENTILATION_CLASSES",
    "VENTILATION_SUPERCLASSES",
    "flat_tree",
]


class LabelTree:
    """A class hierarchy: fine classes -> coarser levels -> an implicit root.

    Parameters
    ----------
    paths : mapping of str to sequence of str
        For every fine class, its ancestors from the level just above it to the top level (the root is
        implicit and not named). All paths have the same length; an empty sequence means a flat tree.
    name : str
        A short name for messages.

    Examples
    --------
    >>> tree = LabelTree({"cat": ["animal"], "dog": ["animal"], "car": ["vehicle"]})
    >>> tree.n_levels, tree.ancestor("dog", 1)
    (2, 'animal')
    >>> int(tree.distance("cat", "dog")), int(tree.distance("cat", "car"))
    (2, 4)
    """

    def __init__(self, paths: Mapping[str, Sequence[str]], name: str = ""):
        if not isinstance(paths, Mapping) or not paths:
            raise VentgenTypeError("LabelTree: paths must be a non-empty mapping of class -> ancestors")
        depths = {len(v) for v in paths.values()}
        if len(depths) != 1:
            raise VentgenValueError(f"LabelTree {name!r}: every class needs the same number of ancestors, got {sorted(depths)}")
        self.name = name
        self._paths = {str(k): tuple(str(a) for a in v) for k, v in paths.items()}
        self.classes = list(self._paths)
        self.n_levels = depths.pop() + 1  # fine level + ancestors (root excluded)
        # each ancestor name at level l must have one parent at level l+1
        for lvl in range(1, self.n_levels - 1):
            seen: dict[str, str] = {}
            for p in self._paths.values():
                a, up = p[lvl - 1], p[lvl]
                if seen.setdefault(a, up) != up:
                    raise VentgenValueError(f"LabelTree {name!r}: {a!r} has two parents ({seen[a]!r}, {up!r})")

    # ------------------------------------------------------------------
    def ancestor(self, label: str, level: int) -> str:
        """Name of ``label``'s ancestor at ``level`` (0 = the fine class itself)."""
        if label not in self._paths:
            raise VentgenValueError(f"LabelTree {self.name!r}: unknown class {label!r}; known: {self.classes}")
        if not 0 <= level < self.n_levels:
            raise VentgenValueError(f"LabelTree {self.name!r}: level must be in [0, {self.n_levels - 1}], got {level}")
        return label if level == 0 else self._paths[label][level - 1]

    def level_labels(self, level: int) -> list[str]:
        """The distinct names at ``level``, in first-seen class order."""
        out: dict[str, None] = {}
        for c in self.classes:
            out.setdefault(self.ancestor(c, level), None)
        return list(out)

    def members(self, name: str) -> list[str]:
        """Fine classes under ``name`` (a class or an ancestor at any level)."""
        return [c for c in self.classes if c == name or name in self._paths[c]]

    def level_of(self, name: str) -> int:
        """Lowest level at which ``name`` appears (0 for a fine class)."""
        for lvl in range(self.n_levels):
            if name in self.level_labels(lvl):
                return lvl
        raise VentgenValueError(f"LabelTree {self.name!r}: {name!r} is neither a class nor an ancestor")

    def map(self, labels: Sequence[str], level: int) -> np.ndarray:
        """Map fine labels to their ancestors at ``level`` (object array)."""
        lut = {c: self.ancestor(c, level) for c in self.classes}
        try:
            return np.array([lut[str(v)] for v in labels], dtype=object)
        except KeyError as exc:
            raise VentgenValueError(f"LabelTree {self.name!r}: unknown class {exc.args[0]!r}; known: {self.classes}") from None

    def distance(self, a: str, b: str) -> int:
        """Number of edges on the tree path between fine classes ``a`` and ``b``."""
        if a == b:
            self.ancestor(a, 0)
            return 0
        pa = (a,) + self._paths[a] if a in self._paths else self.ancestor(a, 0)
        pb = (b,) + self._paths[b] if b in self._paths else self.ancestor(b, 0)
        for lvl in range(self.n_levels):
            if pa[lvl] == pb[lvl]:
                return 2 * lvl
        return 2 * self.n_levels  # meet at the root

    def distance_matrix(self, classes: Sequence[str] | None = None) -> np.ndarray:
        """Pairwise path lengths between ``classes`` (default: all fine classes), shape (C, C)."""
        classes = list(self.classes if classes is None else classes)
        paths = np.array([[c, *self._paths[c]] for c in classes], dtype=object)
        C = len(classes)
        d = np.full((C, C), 2 * self.n_levels, dtype=np.int64)
        # the lowest shared level wins: walk from the top down
        for lvl in range(self.n_levels - 1, -1, -1):
            same = paths[:, lvl][:, None] == paths[:, lvl][None, :]
            d[same] = 2 * lvl
        return d

    def to_dict(self) -> dict:
        """JSON-serialisable form; :meth:`from_dict` inverts it."""
        return {"name": self.name, "paths": {k: list(v) for k, v in self._paths.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> LabelTree:
        return cls(d["paths"], name=d.get("name", ""))

    def __repr__(self) -> str:
        sizes = [len(self.level_labels(i)) for i in range(self.n_levels)]
        return f"LabelTree({self.name!r}, level sizes {sizes} + root)"


def flat_tree(classes: Sequence[str], name: str = "") -> LabelTree:
    """A tree with every class directly under the root (e.g. MNIST)."""
    return LabelTree({str(c): () for c in classes}, name=name)


#: The super-classes of the paper's ventilation dataset.
VENTILATION_SUPERCLASSES = ("normal breathing", "respiratory event", "movement")

#: The ten fine classes, in a fixed order used for integer codes.
VENTILATION_CLASSES = (
    "normal breathing",
    "speaking",
    "coughing",
    "snoring",
    "apnea",
    "swallowing",
    "lying down",
    "turning left",
    "turning right",
    "knees to chest",
)

#: The ventilation hierarchy: 10 classes -> 3 super-classes -> root.
VENTILATION_TREE = LabelTree(
    {
        "normal breathing": ["normal breathing"],
        "speaking": ["respiratory event"],
        "coughing": ["respiratory event"],
        "snoring": ["respiratory event"],
        "apnea": ["respiratory event"],
        "swallowing": ["respiratory event"],
        "lying down": ["movement"],
        "turning left": ["movement"],
        "turning right": ["movement"],
        "knees to chest": ["movement"],
    },
    name="ventilation",
)
