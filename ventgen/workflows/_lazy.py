"""torch on first use: ``import ventgen`` and the commands that need no model stay without it."""

from __future__ import annotations


def htvae_class():
    """The :class:`ventgen.HTVAE` class (imports torch, a heavy dependency, when first called)."""
    from ..models.estimator import HTVAE

    return HTVAE
