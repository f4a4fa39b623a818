"""Run ``signal-monitor`` with a proposed change patched in, without touching ``signal_monitor/``.

``python -m bench.lab.variant [--uvloop] [--reference-decode] [--reference-fold] [--faust NAME=VALUE ...] -- worker``

* ``--uvloop``: run the worker's event loop on uvloop (needs the ``uvloop`` package);
* ``--reference-decode`` / ``--reference-fold``: the straightforward implementations kept in
  :mod:`bench.lab.fastpath` (json + pydantic; one scope dict per trade) in place of the ingestor's
  ``decode`` / ``fold``, to measure what the hot path's versions gain end to end;
* ``--faust NAME=VALUE``: override a keyword of ``faust.App(...)`` in ``create_app``.

``python -m bench.lab.compare`` runs the variants side by side through this launcher.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def apply(args: argparse.Namespace) -> None:
    """Install the patches named by ``args``."""
    if args.uvloop:
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.reference_decode:
        import signal_monitor.agents.ingest as ingest
        from bench.lab import fastpath

        ingest.decode = fastpath.reference_decode  # type: ignore[assignment]
    if args.reference_fold:
        import signal_monitor.agents.ingest as ingest
        from bench.lab import fastpath

        ingest.fold = fastpath.reference_fold  # type: ignore[assignment]
    if args.faust:
        import faust

        overrides = {name: _value(value) for name, _, value in (item.partition("=") for item in args.faust)}
        original = faust.App.__init__

        def init(self: Any, *a: Any, **kw: Any) -> None:
            kw.update(overrides)
            original(self, *a, **kw)

        faust.App.__init__ = init  # type: ignore[method-assign]


def parser() -> argparse.ArgumentParser:
    """Return the launcher's argument parser."""
    p = argparse.ArgumentParser(prog="python -m bench.lab.variant")
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--reference-decode", action="store_true")
    p.add_argument("--reference-fold", action="store_true")
    p.add_argument("--faust", action="append", default=[], metavar="NAME=VALUE")
    return p


def main() -> None:
    """Apply the patches, then run the signal-monitor command line with the arguments after ``--``."""
    argv = sys.argv[1:]
    rest: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    apply(parser().parse_args(argv))
    from signal_monitor.cli import main as cli

    sys.argv = ["signal-monitor", *rest]
    cli()


if __name__ == "__main__":
    main()
