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

from markupeval.cli import add_executor_argument

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
    _register_reference(dsub)
    _register_synth(dsub)

    f = dsub.add_parser("fidelity", help="render the raw sample formulas and compare with the original images",
                        description="Image Match of our dataset-template renders against the original IM2LATEX-100K "
                                    "images of the harvardnlp/im2markup sample (formulas.lst, *.lst, images/).")
    f.add_argument("--sample", required=True, help="the sample directory (shared/data/im2markup-sample)")
    f.add_argument("--rasterizer", default="ghostscript")
    f.add_argument("--limit", type=int, default=None, help="only the first N list entries")
    f.add_argument("--workers", type=int, default=None)
    f.add_argument("--no-cache", action="store_true")
    f.add_argument("--json", metavar="OUT", help="write the figures and every mismatch")
    f.set_defaults(func=run_fidelity)


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


def _register_build(dsub: argparse._SubParsersAction) -> None:
    from markupeval.data.preprocess import BUCKET_PRESETS

    b = dsub.add_parser(
        "build", help="render, preprocess (crop/pad/bucket/downsample), filter and write a model-ready set",
        description="From an official-style release (--formulas + --train/--validate/--test lists, "
                    "--normalized or the built-in normalizer) or from the offline holdings (--holdings DIR: "
                    "the normalized gold in shared/data/im2latex100k) to the processed layout.")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--formulas", help="raw formula file (im2latex_formulas.lst)")
    src.add_argument("--holdings", help="directory with the offline normalized gold (builds the available set)")
    b.add_argument("--train", help="train split list (official or *_filter format)")
    b.add_argument("--validate", help="validation split list")
    b.add_argument("--test", help="test split list")
    b.add_argument("--normalized", help="normalized formulas, indexed like --formulas (else: normalize them)")
    b.add_argument("--train-limit", type=int, default=None, help="with --holdings: use only the first N train items")
    b.add_argument("--validate-limit", type=int, default=None, help="with --holdings: only the first N validation items")
    b.add_argument("--test-limit", type=int, default=None, help="with --holdings: only the first N test items")
    b.add_argument("--out", required=True, help="output dataset directory")
    b.add_argument("--template", choices=("dataset", "im2markup"), default=None,
                   help="render template (default: dataset for raw formulas, im2markup for normalized ones, "
                        "which use amsmath commands such as \\operatorname)")
    b.add_argument("--rasterizer", default="ghostscript",
                   help="renderer rasterizer (default ghostscript: the one that reproduces the release's images)")
    b.add_argument("--buckets", choices=sorted(BUCKET_PRESETS), default="paper")
    b.add_argument("--max-width", type=int, default=500)
    b.add_argument("--max-height", type=int, default=160)
    b.add_argument("--max-tokens", type=int, default=150)
    b.add_argument("--workers", type=int, default=None, help="render processes (default: all cores)")
    add_executor_argument(b)
    b.add_argument("--cache-dir", default=None, help="render cache (default: the renderer's)")
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=run_build)


def _config(args: argparse.Namespace, template: str, strict: bool = False):
    from markupeval.data.build import build_config

    return build_config(template, rasterizer=args.rasterizer, buckets=args.buckets, max_width=args.max_width,
                        max_height=args.max_height, max_tokens=args.max_tokens, workers=args.workers,
                        cache_dir=args.cache_dir, strict=strict, executor=getattr(args, "executor", None))


def _run_with_progress(fn, no_progress: bool, label: str):
    err = Console(stderr=True)
    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err, disable=no_progress) as progress:
        task = progress.add_task(label, total=None)
        return fn(lambda done, total: progress.update(task, completed=done, total=total))


def _print_counts(manifest: dict) -> None:
    table = Table("split", "listed", "kept", "dropped")
    for split in ("train", "validate", "test"):
        c = manifest["counts"][split]
        dropped = ", ".join(f"{k} {v}" for k, v in c["dropped"].items()) or "-"
        if c.get("render_failed_kept_blank"):
            dropped += f" (kept with blank image: {c['render_failed_kept_blank']})"
        table.add_row(split, str(c["listed"]), str(c["kept"]), dropped)
    Console().print(table)
    Console().print(f"vocabulary {manifest['counts']['vocabulary']} tokens; rendered "
                    f"{manifest['counts']['rendered']}; {manifest['timing']['seconds_total']} s")


def run_build(args: argparse.Namespace) -> int:
    from markupeval.data.build import build, inputs_from_files, inputs_from_holdings
    from markupeval.errors import InputError

    if args.holdings:
        inputs = inputs_from_holdings(Path(args.holdings), train_limit=args.train_limit,
                                      validate_limit=args.validate_limit, test_limit=args.test_limit)
    else:
        lists = {s: Path(p) for s, p in (("train", args.train), ("validate", args.validate), ("test", args.test)) if p}
        if not lists:
            raise InputError("give at least one of --train, --validate, --test")
        inputs = inputs_from_files(Path(args.formulas), lists, Path(args.normalized) if args.normalized else None)
    template = args.template or ("dataset" if inputs.source == "raw" else "im2markup")
    config = _config(args, template)
    report = _run_with_progress(lambda cb: build(inputs, Path(args.out), config, on_progress=cb),
                                args.no_progress, "build")
    _print_counts(report.manifest)
    return 0


def _register_reference(dsub: argparse._SubParsersAction) -> None:
    r = dsub.add_parser(
        "reference", help="build the reference training recipe every measured baseline row uses",
        description="From the offline holdings: the available set, its validation minus a fixed 500-image slice "
                    "moved into training (the slice ships with the package), and optionally N synthetic "
                    "candidates fitted on the recipe's training formulas only. Reuses what is built.")
    r.add_argument("--holdings", required=True, help="the offline normalized gold (shared/data/im2latex100k)")
    r.add_argument("--out", required=True, help="recipe directory (train with --data OUT/real [OUT/synth-...])")
    r.add_argument("--synthetic", type=int, default=0, metavar="N", help="synthetic candidates (default 0)")
    r.add_argument("--synthetic-seed", type=int, default=0)
    r.add_argument("--holdout", default=None, metavar="FILE", help="another model-selection slice (image names)")
    r.add_argument("--workers", type=int, default=None)
    r.add_argument("--cache-dir", default=None)
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=run_reference)


def run_reference(args: argparse.Namespace) -> int:
    from markupeval.data.recipe import HOLDOUT_RESOURCE, RecipeConfig, build_reference_from_holdings

    config = RecipeConfig(synthetic=args.synthetic, synthetic_seed=args.synthetic_seed,
                          holdout=args.holdout or HOLDOUT_RESOURCE)
    data = _run_with_progress(
        lambda cb: build_reference_from_holdings(Path(args.holdings), Path(args.out), config, workers=args.workers,
                                                 cache_dir=args.cache_dir, on_progress=cb),
        args.no_progress, "reference")
    table = Table("set", "images")
    for k, v in data.counts.items():
        table.add_row(k, f"{v:,}")
    Console().print(table)
    Console().print("train with: --data " + " ".join(str(d) for d in data.train_dirs))
    return 0


def _register_synth(dsub: argparse._SubParsersAction) -> None:
    from markupeval.data.preprocess import BUCKET_PRESETS

    s = dsub.add_parser(
        "synth", help="generate synthetic normalized formulas (learned from training gold) as a dataset",
        description="Fit a structure-aware n-gram on training gold (never test), sample formulas, keep those "
                    "that render without TeX errors and are not copies of training formulas, and write the "
                    "processed layout (all in train_filter.lst). Prints the distribution check.")
    s.add_argument("--train-gold", required=True, help="normalized training formulas, one per line")
    s.add_argument("--reference", help="other real gold (e.g. validation) to show natural variation")
    s.add_argument("-n", type=int, required=True, help="number of candidate formulas to sample")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--prefix", default="syn", help="image name prefix (names must not clash with real ones)")
    s.add_argument("--template", choices=("dataset", "im2markup"), default="im2markup")
    s.add_argument("--rasterizer", default="ghostscript")
    s.add_argument("--buckets", choices=sorted(BUCKET_PRESETS), default="paper")
    s.add_argument("--max-width", type=int, default=500)
    s.add_argument("--max-height", type=int, default=160)
    s.add_argument("--max-tokens", type=int, default=150)
    s.add_argument("--workers", type=int, default=None)
    add_executor_argument(s)
    s.add_argument("--cache-dir", default=None)
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from markupeval.data.lists import read_formulas
    from markupeval.data.synth import synthesize

    train = read_formulas(Path(args.train_gold))
    reference = read_formulas(Path(args.reference)) if args.reference else None
    # strict: a candidate that makes TeX complain (double superscripts, ...) is not kept.
    config = _config(args, args.template, strict=True)
    report = _run_with_progress(
        lambda cb: synthesize(train, Path(args.out), args.n, config, seed=args.seed, prefix=args.prefix,
                              reference=reference, description={"train_gold": args.train_gold}, on_progress=cb),
        args.no_progress, "synth")
    _print_counts(report.manifest)
    Console().print_json(data=report.distribution_check)
    return 0


def run_fidelity(args: argparse.Namespace) -> int:
    from markupeval.data.build import make_renderer
    from markupeval.data.fidelity import check

    options: dict = {"rasterizer": args.rasterizer, "rewrites": "dataset_compatible"}
    if args.workers is not None:
        options["workers"] = args.workers
    if args.no_cache:
        options["cache"] = False
    renderer = make_renderer("dataset", **options)
    t0 = time.perf_counter()
    rep = check(Path(args.sample), renderer, limit=args.limit, workers=args.workers)
    seconds = time.perf_counter() - t0
    Console().print(f"image Match {rep.match}/{rep.total} = {100 * rep.match_rate:.2f} %   "
                    f"Match (-ws) {rep.match_ws}/{rep.total} = {100 * rep.match_ws_rate:.2f} %   "
                    f"render failures {rep.render_failed}   ({seconds:.0f} s)")
    Console().print(f"renderer: {renderer.signature()}", highlight=False)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "total": rep.total, "match": rep.match, "match_ws": rep.match_ws, "render_failed": rep.render_failed,
            "renderer": str(renderer.signature()), "seconds": round(seconds, 1), "mismatches": rep.mismatches,
        }, indent=2) + "\n")
    return 0
