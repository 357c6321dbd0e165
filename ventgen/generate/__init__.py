"""Generation of class-balanced virtual patients from the nodes of a trained HTVAE.

:func:`generate_cohort` (in :mod:`~ventgen.generate.api`) runs the steps, one module each: the spec
(:mod:`~ventgen.generate.spec`), node labels (:mod:`~ventgen.generate.labelling`), resolution and counts
(:mod:`~ventgen.generate.composition`), events (:mod:`~ventgen.generate.events`), latents and lengths
(:mod:`~ventgen.generate.latents`), decoding (:mod:`~ventgen.generate.decode`) with the observation model
(:mod:`~ventgen.generate.observation`) and stitching (:mod:`~ventgen.generate.stitching`), and the
recordings (:mod:`~ventgen.generate.result`). The cohort is planned once and its patients are made one
at a time, each from its own random stream (:mod:`~ventgen.generate.plan`): the same seed gives the
same bytes however the patients are spread over processes. Cohort files are read and written by :mod:`ventgen.io`
(:mod:`~ventgen.io.cohort_spec`: the spec JSON; :mod:`~ventgen.io.cohort`: the cohort folder).
"""

from .api import GenerationOptions, generate_cohort
from .composition import resolve_composition
from .labelling import label_nodes, node_label_table
from .latents import LATENT_SOURCES, LENGTH_METHODS
from .observation import BoundaryBias, ObservationNoise
from .result import CohortResult
from .spec import CohortSpec, CompositionEntry, read_cohort_spec

__all__ = [
    "CohortSpec",
    "CompositionEntry",
    "read_cohort_spec",
    "CohortResult",
    "GenerationOptions",
    "generate_cohort",
    "resolve_composition",
    "label_nodes",
    "node_label_table",
    "LATENT_SOURCES",
    "LENGTH_METHODS",
    "BoundaryBias",
    "ObservationNoise",
]
