"""The ``ventgen`` command: argument parsing only; every subcommand calls the library.

Errors a user can cause (:class:`ventgen.errors.VentgenError`, missing files) print one line on stderr
and exit with status 2; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from . import __version__
from .errors import VentgenError

__all__ = ["main", "build_parser"]

_COMMANDS = []  # (name, add_parser_function), filled by the @command decorator below


def command(name: str):
    """Register ``func(subparsers)`` as the builder of subcommand ``name``."""

    def deco(func):
        _COMMANDS.append((name, func))
        return func

    return deco


def _sub(subparsers, name: str, help: str, examples: str):
    return subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _seed(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}")
    return v


def _positive_int(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return v


def _positive_float(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value!r}")
    return v


# ----------------------------------------------------------------------------- signals: info, convert


# ----------------------------------------------------------------------------- simulate


# ----------------------------------------------------------------------------- segment


# ----------------------------------------------------------------------------- train


# ----------------------------------------------------------------------------- benchmark


# ----------------------------------------------------------------------------- generate, evaluate-cohort


# ----------------------------------------------------------------------------- demo


# ----------------------------------------------------------------------------- entry point
class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (usage is available through --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ventgen",
        description="Mechanical-ventilation recordings -> breath cycles -> HTVAE -> virtual patients.",
        epilog="Run 'ventgen COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"ventgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for _name, add in _COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    debug = args.debug
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.formatwarning = lambda msg, cat, *a, **k: f"ventgen: warning: {msg}\n"
            rc = args.func(args)
        return 0 if rc is None else int(rc)
    except (VentgenError, FileNotFoundError, IsADirectoryError, PermissionError, FileExistsError) as exc:
        if debug:
            raise
        msg = str(exc) if not isinstance(exc, OSError) or not exc.filename else f"{exc.filename}: {exc.strerror}"
        print(f"ventgen: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ventgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
