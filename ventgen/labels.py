"""Label hierarchies (true class trees) and the distances between their classes.

A :class:`LabelTree` maps each fine class to its chain of ancestors, all leaves at the same depth,
with an implicit root above the top level. The ventilation tree of the paper has 10 classes under 3
super-classes; the image trees live beside their adapters in :mod:`ventgen.io.datasets`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import VentgenTypeError, VentgenValueError

__all__ = [
    "model_maps",
    "LabelTree",
    "LearnedTree",
    "VENTILATION_TREE",
    "VENTILATION_CLASSES",
    "VENTILATION_SUPERCLASSES",
    "VENTILATION_MODES",
    "VENTILATION_MODE_GROUPS",
    "VENTILATION_MODES_TREE",
    "VENTMODE_COLUMNS",
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


#: The two groups of ventilation modes: the ventilator or the patient triggers and cycles the breath.
VENTILATION_MODE_GROUPS = ("mandatory", "spontaneous")

#: Ventilation modes, in a fixed order: volume control, pressure control, pressure-regulated volume
#: control (mandatory); pressure support, proportional assist, volume support, CPAP / spontaneous
#: breathing trial (spontaneous).
VENTILATION_MODES = ("vc", "pc", "prvc", "ps", "pav", "vs", "cpap_sbt")

#: The ventilation-mode hierarchy of real labelled recordings: 7 modes -> 2 groups -> root.
VENTILATION_MODES_TREE = LabelTree(
    {m: ["mandatory" if m in ("vc", "pc", "prvc") else "spontaneous"] for m in VENTILATION_MODES},
    name="ventilation modes",
)

#: The one-hot mode columns of a ventmode ``.modes.csv`` table (``simv``, ``aprv`` and ``other`` are
#: outside :data:`VENTILATION_MODES_TREE`: they mix mandatory and spontaneous breaths).
VENTMODE_COLUMNS = ("vc", "pc", "prvc", "ps", "simv", "pav", "vs", "cpap_sbt", "aprv", "other")


# ----------------------------------------------------------------------------- learned trees (metrics room)
def _level_size(spec) -> int:
    """Number of codes of one level given as ``(h, w)`` or as an int."""
    if isinstance(spec, (int, np.integer)):
        return int(spec)
    try:
        h, w = spec
        return int(h) * int(w)
    except (TypeError, ValueError):
        raise VentgenTypeError(f"a level size must be an int or an (h, w) pair, got {spec!r}") from None


def model_maps(model) -> list[tuple[int, int]] | None:
    """The lattice shapes of a fitted model, level 1 first: its fitted ``maps_`` (an HTVAE fitted with
    its preset's maps leaves ``maps=None``) or, for models without it, ``maps``; None if it has neither.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> model_maps(SimpleNamespace(maps=None, maps_=[(4, 4), (2, 2)]))
    [(4, 4), (2, 2)]
    >>> model_maps(SimpleNamespace(maps=[[3, 3]]))
    [(3, 3)]
    """
    maps = getattr(model, "maps_", None)
    if maps is None:
        maps = getattr(model, "maps", None)
    return None if maps is None else [tuple(int(v) for v in m) for m in maps]


class LearnedTree:
    """The tree a hierarchical model learned: level 1 (deepest) -> ... -> level M -> a virtual root.

    Parameters
    ----------
    parents : sequence of M-1 int arrays
        ``parents[i-1][k]`` is the parent, among the nodes of level ``i+1``, of node ``k`` of level
        ``i`` (the HTVAE's ``tree_`` attribute, or a hierarchical clustering's).
    sizes : sequence of M ints or (h, w) pairs
        Number of nodes per level, level 1 first (the HTVAE's ``maps``).

    Notes
    -----
    Every node of level M hangs from one virtual root, so two level-1 nodes always meet. The path
    length between two level-1 nodes whose lowest common ancestor is at level ``l`` (level 1 = the
    node itself, ``M + 1`` = the root) is ``2 * (l - 1)`` edges.

    Examples
    --------
    >>> tree = LearnedTree([[0, 0, 1, 1], [0, 0]], sizes=[4, 2, 1])
    >>> tree.n_levels, tree.ancestors([0, 3], level=2).tolist()
    (3, [0, 1])
    >>> tree.distance_matrix().tolist()[0]
    [0, 2, 4, 4]
    """

    def __init__(self, parents, sizes):
        sizes = [_level_size(s) for s in sizes]
        if not sizes or min(sizes) < 1:
            raise VentgenValueError(f"LearnedTree: need at least one level of >= 1 node, got sizes {sizes}")
        parents = [np.asarray(p) for p in parents]
        if len(parents) != len(sizes) - 1:
            raise VentgenValueError(
                f"LearnedTree: {len(sizes)} levels need {len(sizes) - 1} parent arrays, got {len(parents)}"
            )
        problems = []
        for i, p in enumerate(parents, start=1):
            if p.ndim != 1 or p.shape[0] != sizes[i - 1]:
                problems.append(f"parents of level {i} must have shape ({sizes[i - 1]},), got {p.shape}")
            elif not np.issubdtype(p.dtype, np.integer) or (p.size and (p.min() < 0 or p.max() >= sizes[i])):
                problems.append(f"parents of level {i} must be integers in [0, {sizes[i]}), got {p.dtype} {p.min()}..{p.max()}")
        if problems:
            raise VentgenValueError("LearnedTree: " + "; ".join(problems))
        self.parents = [p.astype(np.int64) for p in parents]
        self.sizes = sizes
        self.n_levels = len(sizes)

    @classmethod
    def from_model(cls, model) -> LearnedTree:
        """The tree of a fitted model exposing ``tree_`` and ``maps_`` or ``maps`` (HTVAE, hierarchical
        clusterings)."""
        try:
            return cls(model.tree_, model_maps(model))
        except AttributeError:
            raise VentgenTypeError(
                f"{type(model).__name__} has no fitted tree_ and maps; fit it first"
            ) from None

    def ancestors(self, nodes, level: int, from_level: int = 1) -> np.ndarray:
        """Ancestors at ``level`` of ``nodes`` of ``from_level`` (vectorised; level M+1 = root -> 0)."""
        if not 1 <= from_level <= level <= self.n_levels + 1:
            raise VentgenValueError(
                f"LearnedTree: need 1 <= from_level <= level <= {self.n_levels + 1}, got {from_level}, {level}"
            )
        nodes = np.asarray(nodes, dtype=np.int64)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= self.sizes[from_level - 1]):
            raise VentgenValueError(
                f"LearnedTree: node ids of level {from_level} must be in [0, {self.sizes[from_level - 1]})"
            )
        if level == self.n_levels + 1:
            return np.zeros_like(nodes)
        for lvl in range(from_level, level):
            nodes = self.parents[lvl - 1][nodes]
        return nodes

    def paths(self) -> np.ndarray:
        """(K_1, M) ancestors of every level-1 node, column ``i-1`` = its node at level ``i``."""
        cols = [np.arange(self.sizes[0])]
        for p in self.parents:
            cols.append(p[cols[-1]])
        return np.stack(cols, axis=1)

    def children(self, node: int, level: int) -> np.ndarray:
        """Nodes of level ``level - 1`` whose parent is ``node`` of ``level`` (level >= 2)."""
        if not 2 <= level <= self.n_levels:
            raise VentgenValueError(f"LearnedTree: children need 2 <= level <= {self.n_levels}, got {level}")
        return np.flatnonzero(self.parents[level - 2] == node)

    def lca_level(self) -> np.ndarray:
        """(K_1, K_1) level of the lowest common ancestor of each pair of level-1 nodes (root = M + 1)."""
        paths = self.paths()
        K = paths.shape[0]
        out = np.full((K, K), self.n_levels + 1, dtype=np.int64)
        for lvl in range(self.n_levels, 0, -1):  # top down: the lowest shared level wins
            col = paths[:, lvl - 1]
            out[col[:, None] == col[None, :]] = lvl
        return out

    def distance_matrix(self) -> np.ndarray:
        """(K_1, K_1) number of edges on the tree path between level-1 nodes."""
        return 2 * (self.lca_level() - 1)

    def to_dict(self) -> dict:
        """JSON-serialisable form; :meth:`from_dict` inverts it."""
        return {"sizes": list(self.sizes), "parents": [p.tolist() for p in self.parents]}

    @classmethod
    def from_dict(cls, d: Mapping) -> LearnedTree:
        return cls(d["parents"], d["sizes"])

    def __repr__(self) -> str:
        used = [len(np.unique(p)) for p in self.parents]
        return f"LearnedTree(level sizes {self.sizes} + root, parents used per level {used})"
