"""`sacredlog replay JOURNAL... [--mongo-url URL]`: send what a run could not write to MongoDB."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sacredlog", description="Tools for sacredlog runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("replay", help="send journaled runs and points to MongoDB (safe to repeat)")
    rep.add_argument("journals", nargs="+", metavar="JOURNAL",
                     help="journal file(s) written by sacredlog, or folders of them (e.g. ~/.cache/sacredlog/journal)")
    rep.add_argument("--mongo-url", default=None,
                     help="MongoDB URL (default: the one recorded in the journal, without its password)")
    rep.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pymongo.errors import PyMongoError

    from sacredlog.replay import ReplayError, replay

    status = 0
    journals: list[Path] = []
    for item in map(Path, args.journals):
        journals.extend(sorted(item.glob("*.journal")) if item.is_dir() else [item])
    if not journals:
        print("sacredlog: no journals to replay", file=sys.stderr)
    for journal in journals:
        try:
            report = replay(journal, mongo_url=args.mongo_url, timeout=args.timeout)
        except ReplayError as e:
            print(f"sacredlog: {e}", file=sys.stderr)
            status = 1
            continue
        except PyMongoError as e:
            print(f"sacredlog: {journal}: MongoDB error: {e}. Nothing was lost; run the replay again later.",
                  file=sys.stderr)
            status = 1
            continue
        note = " (replayed before; nothing duplicated)" if report.already_done else ""
        print(f"{journal}: run {report.run_id}: {report.points_sent} points sent, "
              f"{report.points_already_stored} already stored, {report.artifacts} artifacts"
              f"{', run inserted' if report.inserted_run else ''}{note}")
        for message in report.messages:
            print(f"  {message}")
    return status


if __name__ == "__main__":
    sys.exit(main())
