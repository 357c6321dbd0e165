"""The ``ventgen`` command: argument parsing only; every subcommand calls the library.

Errors a user can cause (:class:`ventgen.errors.VentgenError`, missing files) print one line on stderr
and exit with status 2; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .. import __version__
from .._core import hide_temporary_names, set_progress
from ..errors import VentgenError
from . import cohort, data, model
from ._args import COMMANDS

#: The subcommands' modules, in the order ``ventgen --help`` lists them.
_GROUPS = (data, model, cohort)

__all__ = ["main", "build_parser", "error_line"]


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
    for group in _GROUPS:
        for _name, add in COMMANDS:
            if add.__module__ == group.__name__:
                add(sub)
    return parser


def _one_line(text: str) -> str:
    """A message as one line, naming the file a user asked for, never ventgen's temporary name."""
    text = hide_temporary_names(str(text))
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def error_line(exc: BaseException) -> str:
    """The one line the command prints for ``exc`` (without the ``ventgen: error:`` prefix).

    Examples
    --------
    >>> error_line(FileNotFoundError(2, "No such file or directory", "/data/x.csv"))
    '/data/x.csv: No such file or directory'
    >>> error_line(MemoryError())
    'out of memory (MemoryError); the input is larger than this machine can hold'
    """
    if isinstance(exc, VentgenError):
        return _one_line(exc)
    if isinstance(exc, OSError) and exc.filename:
        where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "")
        return _one_line(f"{where}: {exc.strerror or exc}")
    if isinstance(exc, MemoryError):
        return "out of memory (MemoryError); the input is larger than this machine can hold"
    if isinstance(exc, RecursionError):
        return "input nested too deeply (RecursionError)"
    detail = _one_line(exc) or "no message"
    return f"unexpected {type(exc).__name__}: {detail} (rerun with --debug for the traceback, and please report it)"


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"ventgen: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None) -> int:
    """Run the ``ventgen`` command; every error ends in one line on stderr and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if args.quiet:
        set_progress(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            rc = args.func(args)
        return 0 if rc is None else int(rc)
    except KeyboardInterrupt:
        print("ventgen: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the command's contract: one line, exit 2
        if args.debug:
            raise
        print(f"ventgen: error: {error_line(exc)}", file=sys.stderr)
        return 2


