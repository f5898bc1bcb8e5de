"""``markupeval score``: score a predictions file on the IM2LATEX-100K protocol."""

from __future__ import annotations

import argparse
from importlib import resources

from markupeval.data.crohme import DATASETS
from markupeval.errors import InputError
from markupeval.formats import PREDICTION_FORMATS
from markupeval.rendering.rasterize import RASTERIZERS
from markupeval.rendering.renderer import DEFAULT_RASTERIZER
from markupeval.run import write_per_sample_csv
from markupeval.scoring import ScoreConfig, score_files
from markupeval.summary import print_run
from markupeval.cli import add_executor_argument, positive_seconds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score a predictions file (BLEU, edit distance, exact match, image metrics)",
        description=(
            "Score predictions against gold on the IM2LATEX-100K protocol. With no PREDICTIONS, "
            "scores the bundled sample (300 test items and a real model's predictions)."
        ),
    )
    p.add_argument("predictions", nargs="?", help="predictions file (results.txt, lines, jsonl or csv)")
    p.add_argument("--gold", help="gold formulas, one per line (normalized, e.g. tgt-test-old.txt)")
    names = p.add_mutually_exclusive_group()
    names.add_argument("--names", help="image names, one per gold line (e.g. src-test-old.txt)")
    names.add_argument("--split", help="split list indexing --gold ('image.png idx' or 'idx image basic')")
    p.add_argument("--render-gold", metavar="FILE",
                   help="render the gold images from FILE (e.g. the raw im2latex_formulas.lst), read and aligned "
                        "like --gold; the text metrics keep --gold (recorded as gold_render:file@<hash>)")
    p.add_argument("--empty-gold", default="render", choices=("render", "exclude"),
                   help="gold items with an empty gold line: render them as the original does (a blank page; "
                        "default) or exclude them from every metric (counted)")
    p.add_argument("--dataset", choices=tuple(DATASETS),
                   help="score against a CROHME test set's ground truth (bundled) instead of --gold")
    p.add_argument("--crohme-dir", metavar="DIR",
                   help="with --dataset: read groundtruth_<year>.tsv from DIR instead of the bundled copy")
    p.add_argument("--format", default="auto", choices=("auto",) + PREDICTION_FORMATS, help="predictions format")
    p.add_argument("--gold-variant", default="norm", choices=("norm", "tok"),
                   help="what the gold holds: normalized (BLEU norm) or only tokenized (BLEU tok)")
    p.add_argument("--duplicates", default="error", choices=("error", "first", "last"),
                   help="a second prediction for the same image: fail, or keep the first/last")
    p.add_argument("--extra", default="error", choices=("error", "ignore"),
                   help="predictions for images not in the gold: fail, or drop them (counted)")
    p.add_argument("--strict-edit-distance", action="store_true",
                   help="edit distance over every gold item against --gold (missing = empty) "
                        "instead of the original's predictions-present-only")
    p.add_argument("--normalize-predictions", action="store_true",
                   help="normalize raw-LaTeX predictions like the gold before scoring")
    p.add_argument("--no-images", action="store_true", help="text metrics only: skip rendering")
    p.add_argument("--cdm", action="store_true",
                   help="add CDM (cdm_f1, cdm_exprate): per-token colour renders matched as the official CDM")
    p.add_argument("--cdm-variant", default="official", choices=("official", "fixed"),
                   help="CDM variant: the official numbers (default) or with its bugs fixed (in the signature)")
    p.add_argument("--workers", type=int, default=None, help="rendering/comparison processes (default: all cores)")
    add_executor_argument(p)
    p.add_argument("--rasterizer", default=DEFAULT_RASTERIZER, choices=RASTERIZERS,
                   help=f"PDF rasteriser for the image metrics (default {DEFAULT_RASTERIZER}; recorded in the signature)")
    p.add_argument("--timeout", type=positive_seconds, default=10.0,
                   help="seconds a formula may run without progress before it fails (the protocol's 10; in the signature)")
    p.add_argument("--cache-dir", help="render cache location (default: ~/.cache/markupeval)")
    p.add_argument("--no-cache", action="store_true", help="render everything afresh, store nothing")
    p.add_argument("--name", help="run name shown in tables (default: the predictions file's stem)")
    p.add_argument("--json", metavar="OUT", help="write the run file (metrics, counts, signature, per-sample stats)")
    p.add_argument("--per-sample", metavar="OUT.csv", help="write one CSV row per gold item")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    render_options: dict = {"progress": True, "rasterizer": args.rasterizer, "timeout": args.timeout}
    if args.workers is not None:
        render_options["workers"] = args.workers
    if args.executor:
        render_options["executor"] = args.executor
    if args.cache_dir:
        render_options["cache"] = args.cache_dir
    if args.no_cache:
        render_options["cache"] = False
    config = ScoreConfig(
        gold_variant=args.gold_variant,
        strict_edit_distance=args.strict_edit_distance,
        normalize_predictions=args.normalize_predictions,
        images=not args.no_images,
        extra=args.extra,
        empty_gold=args.empty_gold,
        render_options=render_options,
        cdm=args.cdm,
        cdm_variant=args.cdm_variant,
    )
    predictions, gold, names = args.predictions, args.gold, args.names
    if args.crohme_dir and not args.dataset:
        raise InputError("--crohme-dir needs --dataset")
    if predictions is None and args.dataset:
        raise InputError(f"--dataset {args.dataset} needs a predictions file")
    if predictions is None:
        sample = resources.files("markupeval") / "sample"
        predictions = str(sample / "predictions.txt")
        gold, names = str(sample / "gold.txt"), str(sample / "names.txt")
        args.name = args.name or "bundled-sample"
    result = score_files(
        predictions, gold, names=names, split=args.split, fmt=args.format,
        duplicates=args.duplicates, config=config, name=args.name,
        render_gold=args.render_gold, dataset=args.dataset, crohme_dir=args.crohme_dir,
    )
    print_run(result)
    if args.json:
        result.save(args.json)
    if args.per_sample:
        write_per_sample_csv(result, args.per_sample)
    return 0
