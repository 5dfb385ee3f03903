"""Command line: ``hipsense process | serve | scan | record | import | export | replay | ...``.

One module per command group, each with a ``register(sub)`` that adds its sub-commands:
:mod:`~hipsense.cli.process` (``process``), :mod:`~hipsense.cli.serve` (``serve``),
:mod:`~hipsense.cli.ble` (``scan``, ``record``), :mod:`~hipsense.cli.recordings` (``import``,
``export``, ``replay``), :mod:`~hipsense.cli.exercises` (``analyze``, ``report``),
:mod:`~hipsense.cli.clients` (``clients ...``); shared
argument types in :mod:`~hipsense.cli.args`. Building the parser imports none of the heavy
modules (web stack, scipy, BLE, simulator, pipeline): each command imports what it needs when
it runs. Nothing outside this package imports it.

Errors the user can act on are printed as one line (``hipsense: error: ...``) with exit code
2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hipsense import __version__
from hipsense.cli import ble, clients, exercises, process, recordings, serve
from hipsense.errors import HipsenseError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``hipsense`` argument parser (each command group registers its sub-commands)."""
    parser = argparse.ArgumentParser(
        prog="hipsense", description="Hip and pelvis angles from wearable IMUs."
    )
    parser.add_argument("--version", action="version", version=f"hipsense {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (process, serve, recordings, ble, exercises, clients):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hipsense`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except HipsenseError as exc:
        print(f"hipsense: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): nothing to report.
        sys.stderr.close()
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"hipsense: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hipsense: interrupted", file=sys.stderr)
        return 130
