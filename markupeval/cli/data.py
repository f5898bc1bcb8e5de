"""``markupeval data ...``: download the IM2LATEX-100K release, build model-ready sets, synthesize."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)
from rich.table import Table

log = logging.getLogger("markupeval")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="IM2LATEX-100K data: download, build model-ready sets, synthesize",
                       description="The IM2LATEX-100K data pipeline (see markupeval.data).")
    dsub = p.add_subparsers(dest="data_command", metavar="STEP")

    d = dsub.add_parser("download", help="fetch the official release (Zenodo 56198) or the processed one",
                        description="Resumable, checksum-verified download. Zenodo's published MD5s verify the "
                                    "official release; the processed release has none, so pass --checksums.")
    d.add_argument("--out", required=True, help="target directory")
    d.add_argument("--release", choices=("official", "processed"), default="official")
    d.add_argument("--record-api", default=None, help="Zenodo record JSON URL (default: record 56198)")
    d.add_argument("--base-url", default=None, help="processed release base URL")
    d.add_argument("--only", nargs="+", metavar="FILE", help="fetch only these file names")
    d.add_argument("--checksums", help="file of '<hex>  <name>' lines (sha256sum/md5sum format); overrides published ones")
    d.add_argument("--retries", type=int, default=5)
    d.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a retry")
    d.add_argument("--extract", action="store_true", help="unpack the images archive after verifying it")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=run_download)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    _register_build(dsub)
    _register_synth(dsub)


def run_download(args: argparse.Namespace) -> int:
    from markupeval.data import download as dl

    if args.release == "official":
        files = dl.zenodo_files(args.record_api or dl.ZENODO_RECORD_API, timeout=args.timeout)
    else:
        files = dl.processed_files(args.base_url or dl.PROCESSED_BASE_URL)
    if args.only:
        unknown = set(args.only) - {f.name for f in files}
        if unknown:
            raise dl.InputError(f"not in the release: {', '.join(sorted(unknown))}")
        files = [f for f in files if f.name in args.only]
    if args.checksums:
        files = dl.with_checksums(files, dl.read_checksums(Path(args.checksums)))
    out = Path(args.out)
    err = Console(stderr=True)
    fetched = []
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err, disable=args.no_progress) as progress:
        tasks: dict[str, int] = {}

        def hook(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        try:
            for rf in files:
                fetched.append(dl.fetch(rf, out, retries=args.retries, timeout=args.timeout, progress=hook))
        finally:
            if fetched:
                dl.record_sha256(out, fetched)
    table = Table("file", "bytes", "sha256", "checked against")
    for f, rf in zip(fetched, files):
        how = (rf.checksum.split(":")[0] + " (published)" if rf.checksum else "nothing: UNVERIFIED")
        if args.checksums and rf.checksum:
            how = rf.checksum.split(":")[0]
        table.add_row(f.path.name, str(f.path.stat().st_size), f.sha256[:16] + "...", how)
    Console().print(table)
    unverified = [f.path.name for f in fetched if not f.verified]
    if unverified:
        log.warning("not verified (no published or supplied checksum): %s", ", ".join(unverified))
    if args.extract:
        for f in fetched:
            if f.path.name.endswith((".tar.gz", ".tgz")):
                n = dl.extract(f.path, out)
                log.info("extracted %d entries from %s", n, f.path.name)
    return 0


def _register_build(dsub: argparse._SubParsersAction) -> None:  # filled in below
    pass


def _register_synth(dsub: argparse._SubParsersAction) -> None:  # filled in below
    pass
