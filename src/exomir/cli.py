"""The ``exomir`` command line.

Subcommands:

``exomir validate [--deep] [DIR]``
    Check a scenario's configuration and every table, without running anything:
    also one FASTQ per library, the first records of each FASTQ, the primary
    miRNA in miRBase and the DE contrasts; ``--deep`` parses every FASTQ record
    and decompresses each gzip file to its end (docs/integrity.md).
``exomir schema-docs``
    Print the sheet reference (``config/README.md``) generated from the schemas.
``exomir simulate OUTDIR``
    Write a simulated trial scenario with known truth (see ``exomir simulate -h``).
``exomir convert-mirtarbase INPUT OUTPUT``
    Convert a user-downloaded miRTarBase table into the interaction TSV layout of
    the pathway stage (docs/pathways.md).
``exomir fetch-references``
    Download miRTarBase (academic use only; ``--accept-licence``) and convert it,
    or a species' miRBase files (``--mirbase rno``); see docs/references.md.
``exomir detect-kit FASTQ...``
    Detect the small-RNA library kit of FASTQ files from their first reads
    (docs/kit_detection.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from exomir import __version__
from exomir.errors import ValidationError


def _cmd_validate(args: argparse.Namespace) -> int:
    from exomir.validate import validate_scenario

    try:
        scenario = validate_scenario(
            args.directory,
            args.config,
            check_files=not args.no_file_check,
            deep=args.deep,
        )
    except ValidationError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    counts = ", ".join(f"{k}: {len(v)} rows" for k, v in scenario.tables.items())
    print(f"{args.directory}: configuration and tables are valid ({counts})")
    from exomir.species import reference_notes

    for note in reference_notes(scenario.config, scenario.directory):
        print(f"note: {note}")
    return 0


def _cmd_schema_docs(args: argparse.Namespace) -> int:
    from exomir.schemadoc import readme_markdown

    sys.stdout.write(readme_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="exomir",
        description="Small-RNA, EV product and clinical analysis of exosome trials.",
    )
    parser.add_argument("--version", action="version", version=f"exomir {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser(
        "validate", help="check a scenario's config and tables without running anything"
    )
    val.add_argument("directory", nargs="?", default=".", help="scenario directory")
    val.add_argument(
        "--config", default=None, help="config file (default DIR/config/config.yaml)"
    )
    val.add_argument(
        "--no-file-check",
        action="store_true",
        help="do not check that FASTQ and NTA files exist",
    )
    val.add_argument(
        "--deep",
        action="store_true",
        help="also parse every FASTQ record and decompress each gzip file to its "
        "end (finds truncated or corrupt files; reads every byte)",
    )
    val.set_defaults(func=_cmd_validate)
    doc = sub.add_parser(
        "schema-docs",
        help="print the sheet reference (config/README.md) from the schemas",
    )
    doc.set_defaults(func=_cmd_schema_docs)
    from exomir.simulate.scenario import add_cli as add_simulate

    add_simulate(sub)
    from exomir.pathways.network import add_cli as add_convert_mirtarbase

    add_convert_mirtarbase(sub)
    from exomir.fetch import add_cli as add_fetch_references

    add_fetch_references(sub)
    from exomir.reads.kit import add_cli as add_detect_kit

    add_detect_kit(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
