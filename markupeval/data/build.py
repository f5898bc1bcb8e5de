"""``markupeval data build``: formula file + split lists -> the processed IM2LATEX-100K layout.

Pipeline, each step as the original harvardnlp/im2markup scripts do it (see the modules cited):

1. render every listed formula with the renderer (``markupeval.rendering``; the ``dataset``
   template for raw formulas, as the release's images were made without amsmath);
2. crop, pad 8 px, choose the width x height bucket, downsample x2 (:mod:`.preprocess`);
3. filter train and validation (:mod:`.filters`); the test list keeps every entry;
4. vocabulary: tokens of the kept training formulas seen more than once (:mod:`.vocab`);
5. write ``images_processed/``, ``formulas.norm.lst``, ``{split}_filter.lst``, ``latex_vocab.txt``
   and ``manifest.json`` (counts, drop reasons, buckets, every setting, renderer signature, time).

Formula indices are kept: ``formulas.norm.lst`` is the normalized formula file indexed like the
input formula file, so ``<name>.png <idx>`` lines mean what they mean in the official release.

Resumable: every processed item is appended to ``DIR/.build/progress.jsonl`` with a key of the
formula and every setting; a rerun skips items whose key matches and whose image exists, so an
interrupted build continues where it stopped and a changed setting redoes only what it changes.
The renderer's own cache (``cache_dir``) makes re-preprocessing with other buckets cheap.

Policies (documented, counted in the manifest, never silent):

* a train/validation formula that does not render is dropped (the original: "image not found");
* a test formula that does not render stays in the test list (the test list keeps everything) with
  the image a blank render gets: the white 601 x 61 crop, padded and downsampled;
* an image listed twice, in one list or in two (the official lists do both: names are a hash of
  the formula), is rendered once and kept in every list; the manifest lists the cross-split ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np
from PIL import Image

from markupeval import __version__
from markupeval.data.filters import FilterSettings, filter_reason
from markupeval.data.lists import ListEntry, read_formulas, read_split_list, write_filter_list, write_formulas
from markupeval.textfiles import image_key, read_names
from markupeval.data.preprocess import BUCKET_PRESETS, PreprocessSettings, preprocess
from markupeval.data.reader import FORMULAS_FILE, IMAGES_DIR, MANIFEST_FILE, SPLITS, VOCAB_FILE
from markupeval.data.vocab import build_vocabulary, write_vocabulary
from markupeval.errors import InputError

log = logging.getLogger("markupeval")

STATE_DIR = ".build"
PROGRESS_FILE = "progress.jsonl"


class RendersFormulas(Protocol):
    """What the build needs from a renderer (``markupeval.rendering.Renderer`` provides it)."""

    def render(self, formulas: Sequence[str]) -> list[Any]: ...

    def signature(self) -> Any: ...


@dataclass(frozen=True)
class BuildInputs:
    """What to build from. ``render_formulas[i]`` is typeset for formula index ``i``;
    ``norm_formulas[i]`` is written as line ``i`` of ``formulas.norm.lst`` (same length)."""

    render_formulas: Sequence[str]
    norm_formulas: Sequence[str]
    splits: dict[str, list[ListEntry]]
    source: str  # "raw" or "normalized": which formulas were typeset
    description: dict[str, Any] = field(default_factory=dict)  # input files, for the manifest


@dataclass(frozen=True)
class BuildConfig:
    preprocess: PreprocessSettings = PreprocessSettings()
    filters: FilterSettings = FilterSettings()
    template: str = "dataset"
    chunk_size: int = 200
    render_options: dict[str, Any] = field(default_factory=dict)  # workers, cache_dir, ...


@dataclass
class ItemResult:
    name: str
    status: str  # the renderer's status: ok | error | timeout | too_large
    size: tuple[int, int] | None  # processed (width, height); None when nothing rendered
    bucket: tuple[int, int] | None = None
    blank: bool = False
    message: str = ""


@dataclass
class BuildReport:
    out_dir: Path
    manifest: dict[str, Any]


def _key(formula: str, settings_key: str) -> str:
    return hashlib.sha256((settings_key + "\x00" + formula).encode("utf-8")).hexdigest()[:20]


def _settings_key(config: BuildConfig, renderer_signature: str) -> str:
    blob = json.dumps([config.preprocess.as_dict(), config.template, renderer_signature], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save_png(path: Path, image: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(image, mode="L").save(tmp, format="PNG")
    os.replace(tmp, path)  # atomic: an interrupted build never leaves a truncated image


def _load_progress(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if not path.exists():
        return done
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interruption; that item is simply redone
            done[rec["name"]] = rec
    return done


def make_renderer(template: str, **options: Any) -> RendersFormulas:
    from markupeval.rendering import Renderer

    return Renderer(template=template, **options)


def _blank_test_image(settings: PreprocessSettings) -> np.ndarray:
    return preprocess(np.full((10, 10), 255, np.uint8), settings).image


def build(
    inputs: BuildInputs,
    out_dir: Path,
    config: BuildConfig = BuildConfig(),
    renderer: RendersFormulas | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Render, preprocess, filter and write one dataset directory. See the module docstring."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    n = len(inputs.render_formulas)
    if len(inputs.norm_formulas) != n:
        raise ValueError(f"{len(inputs.norm_formulas)} normalized formulas for {n} formulas")
    owner: dict[str, str] = {}
    shared_across_splits: list[str] = []
    for split, entries in inputs.splits.items():
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}")
        for e in entries:
            if e.formula_idx >= n:
                raise InputError(f"{split}: {e.name} points at formula {e.formula_idx}, past the end ({n})")
            # The official lists put 4 images in both train and test and 5 in train and
            # validation (images are named by a hash of the formula); kept, counted, reported.
            if owner.setdefault(e.name, split) != split:
                shared_across_splits.append(f"{e.name}:{owner[e.name]}+{split}")

    own_renderer = renderer is None
    if renderer is None:
        renderer = make_renderer(config.template, **config.render_options)
    rsig = str(renderer.signature())
    skey = _settings_key(config, rsig)

    images = out_dir / IMAGES_DIR
    images.mkdir(parents=True, exist_ok=True)
    (out_dir / STATE_DIR).mkdir(exist_ok=True)
    progress_path = out_dir / STATE_DIR / PROGRESS_FILE
    previous = _load_progress(progress_path)

    # An image listed twice (see lists.read_split_list) is rendered once, from its first entry.
    names = list(dict.fromkeys(e.name for entries in inputs.splits.values() for e in entries))
    idx_of: dict[str, int] = {}
    for entries in inputs.splits.values():
        for e in entries:
            idx_of.setdefault(e.name, e.formula_idx)
    results: dict[str, ItemResult] = {}
    todo: list[str] = []
    for name in names:
        rec = previous.get(name)
        key = _key(inputs.render_formulas[idx_of[name]], skey)
        has_image = (images / f"{name}.png").exists()
        if rec and rec["key"] == key and (has_image or rec["status"] != "ok"):
            results[name] = ItemResult(name, rec["status"], tuple(rec["size"]) if rec["size"] else None,
                                       tuple(rec["bucket"]) if rec["bucket"] else None, rec["blank"], rec["message"])
        else:
            todo.append(name)
    resumed = len(results)
    if resumed:
        log.info("resuming: %d of %d items already built with the same settings", resumed, len(names))
    if on_progress:
        on_progress(resumed, len(names))

    t_render = time.perf_counter()
    with progress_path.open("a", encoding="utf-8") as progress_log:
        for start in range(0, len(todo), config.chunk_size):
            chunk = todo[start : start + config.chunk_size]
            rendered = renderer.render([inputs.render_formulas[idx_of[nm]] for nm in chunk])
            if len(rendered) != len(chunk):
                raise RuntimeError(f"renderer returned {len(rendered)} results for {len(chunk)} formulas")
            for name, rr in zip(chunk, rendered):
                path = images / f"{name}.png"
                if rr.status == "ok" and rr.image is not None:
                    proc = preprocess(np.asarray(rr.image, dtype=np.uint8), config.preprocess)
                    _save_png(path, proc.image)
                    res = ItemResult(name, "ok", (proc.image.shape[1], proc.image.shape[0]), proc.bucket, proc.blank)
                else:
                    path.unlink(missing_ok=True)
                    res = ItemResult(name, rr.status, None, message=(rr.message or "")[:300])
                results[name] = res
                progress_log.write(json.dumps({
                    "name": name, "key": _key(inputs.render_formulas[idx_of[name]], skey), "status": res.status,
                    "size": res.size, "bucket": res.bucket, "blank": res.blank, "message": res.message,
                }) + "\n")
            progress_log.flush()
            if on_progress:
                on_progress(resumed + start + len(chunk), len(names))
    render_seconds = time.perf_counter() - t_render
    if own_renderer and hasattr(renderer, "close"):
        renderer.close()  # its worker processes (or cluster connection) are not needed any more

    # Filter, write lists.
    blank_test = None
    split_counts: dict[str, dict[str, Any]] = {}
    kept: dict[str, list[ListEntry]] = {}
    for split in SPLITS:
        entries = inputs.splits.get(split, [])
        reasons: Counter[str] = Counter()
        out: list[ListEntry] = []
        failed_kept = 0
        for e in entries:
            r = results[e.name]
            if split == "test":
                if r.size is None:
                    # Test keeps everything; an unrendered formula gets the blank image (see docstring).
                    if blank_test is None:
                        blank_test = _blank_test_image(config.preprocess)
                    _save_png(images / f"{e.name}.png", blank_test)
                    failed_kept += 1
                out.append(e)
                continue
            reason = filter_reason(r.size, inputs.norm_formulas[e.formula_idx], config.filters)
            if reason is None:
                out.append(e)
            else:
                reasons[reason] += 1
        kept[split] = out
        write_filter_list(out_dir / f"{split}_filter.lst", out)
        split_counts[split] = {"listed": len(entries), "kept": len(out), "dropped": dict(sorted(reasons.items()))}
        if split == "test":
            split_counts[split]["render_failed_kept_blank"] = failed_kept

    write_formulas(out_dir / FORMULAS_FILE, list(inputs.norm_formulas))
    vocab = build_vocabulary(inputs.norm_formulas[e.formula_idx] for e in kept["train"])
    write_vocabulary(out_dir / VOCAB_FILE, vocab)

    statuses = Counter(r.status for r in results.values())
    buckets = Counter("x".join(map(str, r.bucket)) if r.bucket else ("none" if r.size else "no_image")
                      for r in results.values())
    manifest = {
        "markupeval_version": __version__,
        "layout": "im2latex-100k processed (images_processed/, formulas.norm.lst, *_filter.lst, latex_vocab.txt)",
        "inputs": {**inputs.description, "rendered_formulas": inputs.source},
        "counts": {
            **split_counts,
            "formulas_in_file": n,
            "vocabulary": len(vocab),
            "rendered": {k: statuses[k] for k in sorted(statuses)},
            "blank_renders": sum(r.blank for r in results.values()),
            "images_in_two_splits": sorted(set(shared_across_splits)),
        },
        "buckets": dict(sorted(buckets.items(), key=lambda kv: (-kv[1], kv[0]))),
        "settings": {
            "template": config.template,
            "renderer": rsig,
            "preprocess": config.preprocess.as_dict(),
            "filters": config.filters.as_dict(),
            "vocabulary": "tokens of the kept training formulas seen more than once, sorted",
            "test_render_failure_policy": "kept in test_filter.lst with the blank-render image",
        },
        "timing": {
            "seconds_total": round(time.perf_counter() - t0, 1),
            "seconds_rendering": round(render_seconds, 1),
            "items_rendered_this_run": len(todo),
            "items_resumed": resumed,
            "cpu_count": os.cpu_count(),
        },
        "failures": [
            {"name": r.name, "status": r.status, "message": r.message}
            for r in sorted(results.values(), key=lambda r: r.name) if r.size is None
        ][:200],
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return BuildReport(out_dir, manifest)


# ----------------------------------------------------------------------------------------------
# Inputs


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def normalize_like_release(formula: str) -> str:
    """The project's normalizer with the release's fallback policy: a formula the normalizer cannot
    parse becomes an empty line, as the original normalizer left it (71 test formulas of the
    release are such empty lines), never a merely tokenized stand-in."""
    from markupeval.latex import normalize

    result = normalize(formula)
    return "" if result.fallback else result.text


def build_config(
    template: str,
    *,
    rasterizer: str = "ghostscript",
    buckets: str = "paper",
    max_width: int = 500,
    max_height: int = 160,
    max_tokens: int = 150,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    strict: bool = False,
    executor: str | None = None,
) -> BuildConfig:
    """A :class:`BuildConfig` from the ``data build``/``data synth`` options. The amsmath-free
    ``dataset`` template gets the rewrites that keep plain-TeX ``\\pmatrix``; ``strict`` refuses a
    formula that makes TeX complain even when TeX produced a page."""
    render_options: dict[str, Any] = {"rasterizer": rasterizer, "strict": strict}
    if template == "dataset":
        render_options["rewrites"] = "dataset_compatible"
    if workers is not None:
        render_options["workers"] = workers
    if cache_dir:
        render_options["cache"] = str(cache_dir)
    if executor:
        render_options["executor"] = executor  # where chunks render; never changes a pixel
    return BuildConfig(
        preprocess=PreprocessSettings(buckets=BUCKET_PRESETS[buckets], bucket_preset=buckets),
        filters=FilterSettings(max_width, max_height, max_tokens),
        template=template,
        render_options=render_options,
    )


def inputs_from_files(
    formulas: Path,
    lists: dict[str, Path],
    normalized: Path | None = None,
    normalize: Callable[[str], str] | None = normalize_like_release,
) -> BuildInputs:
    """Inputs from an official-style release: a raw formula file and ``im2latex_*.lst`` lists.

    The normalized formulas come from ``normalized`` (a file indexed like ``formulas``) or, when
    absent, from ``normalize(formula)`` (default :func:`normalize_like_release`).
    """
    raw = read_formulas(formulas)
    if normalized is not None:
        norm = read_formulas(normalized)
        if len(norm) != len(raw):
            raise InputError(f"{len(norm)} normalized formulas but {len(raw)} formulas in {formulas}", normalized)
    elif normalize is not None:
        norm = [normalize(f) for f in raw]
    else:
        raise ValueError("give the normalized formulas or a normalizer")
    splits = {s: read_split_list(p, n_formulas=len(raw)) for s, p in lists.items()}
    desc = {"formulas": {"path": str(formulas), "sha256": _sha256(formulas)}}
    if normalized is not None:
        desc["normalized"] = {"path": str(normalized), "sha256": _sha256(normalized)}
    for s, p in lists.items():
        desc[f"{s}_list"] = {"path": str(p), "sha256": _sha256(p)}
    return BuildInputs(raw, norm, splits, source="raw", description=desc)


#: Files of the offline holdings (``shared/data/im2latex100k``) the available set is built from.
AVAILABLE_FILES = {
    "train_list": "train_filter.lst",
    "train_gold": "train-first3000.formulas.norm.txt",
    "validate_list": "validate_filter.lst",
    "validate_gold": "tgt-val.txt",
    "validate_names": "src-val.txt",
    "test_list": "test_filter.lst",
    "test_gold": "tgt-test-old.txt",
    "test_names": "src-test-old.txt",
}


def inputs_from_holdings(holdings: Path, train_limit: int | None = None, validate_limit: int | None = None,
                         test_limit: int | None = None) -> BuildInputs:
    """The "im2latex-100k-available" set from the normalized gold we hold offline.

    Train: the first 3,000 entries of ``train_filter.lst`` (line i <-> line i of
    ``train-first3000.formulas.norm.txt``); validation: all 8,475 of ``validate_filter.lst``; test:
    all 10,355 of ``test_filter.lst``, gold looked up by image name in ``src-*``/``tgt-*``. The
    formula file keeps the official indices (103,559 lines); lines we hold no formula for are
    empty and no list points at them. Images are typeset from the *normalized* formulas (the raw
    ones are not held), which the manifest records. ``*_limit`` keep the first N entries of a split
    (small sets that render in seconds: ``markupeval reproduce --budget smoke``).
    """
    holdings = Path(holdings)
    paths = {k: holdings / v for k, v in AVAILABLE_FILES.items()}
    for k, p in paths.items():
        if not p.is_file():
            raise InputError("missing from the holdings directory", p)
    splits_all = {s: read_split_list(paths[f"{s}_list"]) for s in SPLITS}
    n = 1 + max(e.formula_idx for entries in splits_all.values() for e in entries)
    norm: list[str | None] = [None] * n

    def put(entry: ListEntry, formula: str, where: Path, line: int) -> None:
        if "\n" in formula:
            raise InputError("formula contains a newline", where, line)
        old = norm[entry.formula_idx]
        if old is not None and old != formula:
            raise InputError(f"formula {entry.formula_idx} ({entry.name}) differs from another holding", where, line)
        norm[entry.formula_idx] = formula

    train_gold = read_formulas(paths["train_gold"])
    limit = len(train_gold) if train_limit is None else min(train_limit, len(train_gold))
    train = splits_all["train"][:limit]
    for i, e in enumerate(train):
        put(e, train_gold[i], paths["train_gold"], i + 1)
    splits = {"train": train}
    for s in ("validate", "test"):
        gold = read_formulas(paths[f"{s}_gold"])
        names = read_names(paths[f"{s}_names"])
        if len(gold) != len(names):
            raise InputError(f"{len(gold)} formulas but {len(names)} names in {paths[f'{s}_names'].name}", paths[f"{s}_gold"])
        by_name = {image_key(nm): (g, i) for i, (nm, g) in enumerate(zip(names, gold))}
        limit = {"validate": validate_limit, "test": test_limit}[s]
        entries = splits_all[s] if limit is None else splits_all[s][:limit]
        for e in entries:
            if e.name not in by_name:
                raise InputError(f"no gold formula for {e.name}.png", paths[f"{s}_names"])
            g, i = by_name[e.name]
            put(e, g, paths[f"{s}_gold"], i + 1)
        splits[s] = entries
    formulas = [f if f is not None else "" for f in norm]
    desc = {k: {"path": str(p), "sha256": _sha256(p)} for k, p in paths.items()}
    desc["note"] = "im2latex-100k-available: the normalized gold held offline; images typeset from it"
    return BuildInputs(formulas, formulas, splits, source="normalized", description=desc)
