"""The command registry and the argument types shared by every subcommand."""

from __future__ import annotations

import argparse
import math

from ..errors import VentgenError
from ..models._checks import parse_maps

COMMANDS = []  # (name, add_parser_function), filled by the @command decorator below


def command(name: str):
    """Register ``func(subparsers)`` as the builder of subcommand ``name``."""

    def deco(func):
        COMMANDS.append((name, func))
        return func

    return deco


def add_subcommand(subparsers, name: str, help: str, examples: str):
    return subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def seed(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}")
    return v


def positive_int(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return v


def key_value(value: str) -> tuple[str, float | str]:
    """``KEY=VALUE``: the value as a number when it reads as one, else as a word (a choice such as
    ``parents=nearest``); the model's configuration checks it."""
    key, sep, v = value.partition("=")
    if not sep or not key.strip() or not v.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. code_lr_scale=10 or parents=nearest, got {value!r}")
    try:
        return key.strip(), float(v)
    except ValueError:
        return key.strip(), v.strip()


def finite_float(value: str, ok, what: str) -> float:
    """``float(value)`` when finite and ``ok(v)``, else an argparse error saying ``expected <what>``."""
    try:
        v = float(value)
    except ValueError:
        v = float("nan")
    if not (math.isfinite(v) and ok(v)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return v


def nonneg_float(value: str) -> float:
    return finite_float(value, lambda v: v >= 0, "a finite number >= 0")


def positive_float(value: str) -> float:
    return finite_float(value, lambda v: v > 0, "a positive number")


def fraction(value: str) -> float:
    return finite_float(value, lambda v: 0.0 <= v <= 1.0, "a fraction in [0, 1]")


def maps_arg(value: str):
    """``--maps``: lattices such as 8x8,4x4,2x2, shrinking, within the limits (see :func:`parse_maps`)."""

    try:
        return parse_maps(value)
    except VentgenError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
