"""Figures of a ventgen run: SOM levels, the learned tree, reconstructions, generated breaths, fidelity.

Every function takes plain arrays, DataFrames and dicts (nothing here imports torch or a model, and
the statistics they show come in as tables, from :mod:`ventgen.evaluate`) and returns a
:class:`matplotlib.figure.Figure` drawn on the Agg canvas. Nothing calls ``plt.show()`` and nothing
touches pyplot's global figure list, so the functions are safe in scripts, servers and tests; save with
``fig.savefig(path)`` or display in a notebook.

Class colours are fixed (:func:`class_colors`), so "apnea" has the same colour in every figure.
"""

from __future__ import annotations

from ._style import EMPTY_COLOR, METADATA_COLUMNS, UNLABELLED, UNLABELLED_COLOR, class_colors
from .breaths import plot_breath_examples, plot_generated_vs_real, plot_reconstructions
from .fidelity import ks_figures
from .metadata import plot_metadata_by_class, plot_metadata_distributions
from .recording import plot_recording_excerpt
from .som import plot_som_levels
from .training import plot_training_curves
from .tree import plot_learned_tree

__all__ = [
    "class_colors",
    "plot_som_levels",
    "plot_learned_tree",
    "plot_reconstructions",
    "plot_generated_vs_real",
    "plot_breath_examples",
    "plot_metadata_distributions",
    "plot_metadata_by_class",
    "plot_training_curves",
    "plot_recording_excerpt",
    "ks_figures",
    "METADATA_COLUMNS",
    "UNLABELLED",
    "UNLABELLED_COLOR",
    "EMPTY_COLOR",
]
