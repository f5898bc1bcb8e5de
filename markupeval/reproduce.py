"""``markupeval reproduce``: the paper's Tables 2, 3 and 4, trained, predicted and scored here.

One call builds (or reuses) the data, trains each row's model (or reuses its finished
checkpoint), predicts the test images, scores every metric and writes the side-by-side board: each
paper row with the published number and ours in adjacent columns, the scoring signature, and each
row's provenance (data, budget, hardware, training minutes). Every step leaves a file whose
``settings`` record says what produced it; a second call with the same settings finds them all and
only rewrites the board, so it neither trains nor renders.

Budgets (:data:`BUDGETS`): ``smoke`` (tiny models, a few hundred training formulas, a small test
subset, one epoch: minutes on 2 cores, run by the test suite), ``cpu`` (small models on the
reference recipe, Adam, up to 150 minutes a model: hours in all) and ``gpu`` (the paper's sizes and
recipe on the reference data and the full test set).

Layout under ``OUT`` (default ``runs/reproduce-<budget>``)::

    OUT/data/                the dataset (smoke: a subset; otherwise the reference recipe)
    OUT/rows/<row>/          train/ (checkpoints, done.json), preds.jsonl, predict.json, run.json
    OUT/table<N>.{md,csv,html,tex,txt}   the boards
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from markupeval.errors import InputError

log = logging.getLogger("markupeval")

TABLES = ("table2", "table3", "table4")


@dataclass(frozen=True)
class Budget:
    """Every setting of a budget that changes a number (recorded with each row)."""

    name: str
    size: str                       # model width: tiny | small | paper
    data: str                       # "subset" (smoke) or "recipe" (the reference recipe)
    train_limit: int | None = None  # subset: training formulas built
    validate_limit: int | None = None
    test_limit: int | None = None   # test images predicted and scored (None: all)
    epochs: int = 12
    max_minutes: float | None = None
    optimizer: str = "sgd"
    lr: float | None = None         # None: the model's default
    batch_size: int | None = None
    beam: int = 5
    max_len: int | None = None
    device: str = "auto"
    threads: int = 2


BUDGETS: dict[str, Budget] = {
    "smoke": Budget("smoke", size="tiny", data="subset", train_limit=120, validate_limit=10, test_limit=8,
                    epochs=1, optimizer="adam", lr=0.002, batch_size=20, beam=2, max_len=12,
                    device="cpu", threads=1),
    "cpu": Budget("cpu", size="small", data="recipe", epochs=12, max_minutes=150, optimizer="adam", lr=0.002,
                  batch_size=20, beam=5, device="cpu", threads=2),
    "gpu": Budget("gpu", size="paper", data="recipe", epochs=12, beam=5, device="cuda", threads=2),
}


@dataclass(frozen=True)
class RowSpec:
    """One row of the paper's tables and how this repository measures it."""

    key: str                        # directory name under OUT/rows/
    label: str                      # as the paper prints it
    model: str                      # published.csv's model / attention (the join key)
    attention: str
    kind: str                       # im2tex | ctc | classical | ngram | none
    tables: tuple[int, ...]
    variant: str = "standard"
    flags: tuple[str, ...] = ()     # extra `baseline train im2tex` flags
    init_from: str | None = None    # key of the row whose best checkpoint starts this one
    note: str = ""                  # why the row is measured as it is, or not at all


ROWS: tuple[RowSpec, ...] = (
    RowSpec("infty", "INFTY", "INFTY", "-", "classical", (2,),
            note="our classical OCR baseline stands in for the commercial INFTY"),
    RowSpec("ctc", "CTC", "CTC", "-", "ctc", (2,)),
    RowSpec("caption", "CAPTION", "CAPTION (no row encoder)", "standard", "im2tex", (2, 3), variant="caption",
            note="Table 3's -RowEnc is measured by this model (no row encoder, conv widened x1.25)"),
    RowSpec("im2tex-tok", "IM2TEX-TOK", "IM2TEX-TOK", "standard", "none", (2,),
            note="not run: needs the tokenized (not normalized) training formulas, which the offline "
                 "holdings do not hold; train it with `baseline train im2tex --formulas` on the release"),
    RowSpec("im2tex", "IM2TEX", "IM2TEX", "standard", "im2tex", (2, 3, 4)),
    RowSpec("coarse", "IM2TEX coarse-only", "IM2TEX", "coarse-only", "im2tex", (2, 4), variant="coarse"),
    RowSpec("hierarchical", "IM2TEX hierarchical", "IM2TEX", "hierarchical", "im2tex", (2, 4),
            variant="hierarchical"),
    RowSpec("c2f-hard", "IM2TEX-C2F hard", "IM2TEX-C2F", "hard", "im2tex", (2, 4), variant="c2f-hard",
            init_from="hierarchical", note="initialised from the hierarchical row's best checkpoint, as the paper"),
    RowSpec("c2f-sparsemax", "IM2TEX-C2F sparsemax", "IM2TEX-C2F", "sparsemax", "im2tex", (2, 4),
            variant="c2f-sparsemax"),
    RowSpec("ngram", "NGRAM", "NGRAM", "-", "ngram", (3,), note="5-gram, interpolated modified Kneser-Ney"),
    RowSpec("lstm-lm", "LSTM-LM", "LSTM-LM", "-", "im2tex", (3,), flags=("--no-image",),
            note="the IM2TEX decoder without the image (zero context)"),
    RowSpec("no-pos-embed", "IM2TEX -PosEmbed", "IM2TEX", "-PosEmbed", "im2tex", (3,), flags=("--no-pos-embed",),
            note="row encoder without the trainable per-row initial state"),
)

#: Table 3 rows are reported as perplexity; ``-RowEnc`` reads the CAPTION row's measurements.
TABLE3_ORDER = ("ngram", "lstm-lm", "caption", "no-pos-embed", "im2tex")
TABLE3_LABELS = {"caption": "IM2TEX -RowEnc", "im2tex": "IM2TEX"}
#: Table 3's published values could not be found in the sources reachable here (see leaderboard/README.md).
TABLE3_PUBLISHED: dict[str, float | None] = {k: None for k in TABLE3_ORDER}


def rows_for(table: str) -> list[RowSpec]:
    n = int(table.removeprefix("table"))
    by_key = {r.key: r for r in ROWS}
    if n == 3:
        return [by_key[k] for k in TABLE3_ORDER]
    return [r for r in ROWS if n in r.tables]


def needed_rows(rows: Sequence[RowSpec]) -> list[RowSpec]:
    """``rows`` plus the rows they start from, those first."""
    by_key = {r.key: r for r in ROWS}
    out: list[RowSpec] = []
    for r in rows:
        if r.init_from and by_key[r.init_from] not in out:
            out.append(by_key[r.init_from])
        if r not in out:
            out.append(r)
    return out


# --------------------------------------------------------------------------- bookkeeping


def _digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _done(path: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The record at ``path`` when it was written for exactly these settings."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("settings_digest") == _digest(settings) else None


def _record(path: Path, settings: dict[str, Any], **values: Any) -> dict[str, Any]:
    record = {"settings_digest": _digest(settings), "settings": settings, **values}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return record


def _file_id(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def hardware(device: str) -> str:
    if device in ("cuda", "auto"):
        try:
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0)
        except ImportError:
            pass
    return f"CPU, {os.cpu_count()} cores"


# --------------------------------------------------------------------------- steps


@dataclass
class Reproduction:
    """What one call did and found, row by row (also what the board is built from)."""

    table: str
    budget: Budget
    out: Path
    data: Path
    data_note: str
    data_label: str = ""
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    trained: list[str] = field(default_factory=list)   # rows trained (not reused) in this call
    rendered: bool = False                             # whether this call rendered or scored anything anew


def build_data(budget: Budget, out: Path, holdings: Path, data: Path | None) -> tuple[Path, str]:
    """The dataset of the budget: ``data`` when given, else built (or reused) under ``out``."""
    if data is not None:
        if not (Path(data) / "test_filter.lst").is_file():
            raise InputError("not a dataset directory (no test_filter.lst)", data)
        return Path(data), f"given: {data}"
    from markupeval.cli.data import _config  # one place that turns build flags into a BuildConfig
    from markupeval.data.build import build, inputs_from_holdings

    def build_available(target: Path, **limits: int | None) -> None:
        import argparse

        flags = argparse.Namespace(rasterizer="ghostscript", workers=None, cache_dir=None, buckets="paper",
                                   max_width=500, max_height=160, max_tokens=150)
        build(inputs_from_holdings(holdings, **limits), target, _config(flags, "im2markup"))

    if budget.data == "subset":
        target = out / "data"
        limits = dict(train_limit=budget.train_limit, validate_limit=budget.validate_limit,
                      test_limit=budget.test_limit)
        if _done(target / "reproduce.json", limits) is None:
            build_available(target, **limits)
            _record(target / "reproduce.json", limits)
        return target, (f"subset of the offline holdings: first {budget.train_limit} train, "
                        f"{budget.validate_limit} validation, {budget.test_limit} test entries")
    from markupeval.data.recipe import RecipeConfig, build_reference

    def no_synthetic(formulas: list[str], target: Path) -> None:  # RecipeConfig() has synthetic=0
        raise AssertionError("the reproduce recipe adds no synthetic formulas")

    recipe = build_reference(out / "data", RecipeConfig(), build_available, no_synthetic)
    counts = recipe.counts
    return recipe.real, (f"reference recipe ({counts.get('train')} train, {counts.get('validate')} "
                         f"validation slice, {counts.get('test')} test)")


def _train_args(row: RowSpec, budget: Budget, data: Path, run_dir: Path, init: Path | None) -> list[str]:
    kind = "im2tex" if row.kind == "im2tex" else "ctc"
    args = ["baseline", "train", kind, "--data", str(data), "--out", str(run_dir), "--size", budget.size,
            "--epochs", str(budget.epochs), "--optimizer", budget.optimizer, "--device", budget.device,
            "--threads", str(budget.threads)]
    if kind == "im2tex":
        args += ["--variant", row.variant, *row.flags]
    if budget.lr is not None and not (row.variant == "c2f-hard" and budget.optimizer == "sgd"):
        args += ["--lr", str(budget.lr)]
    if budget.batch_size:
        args += ["--batch-size", str(budget.batch_size)]
    if budget.max_minutes:
        args += ["--max-minutes", str(budget.max_minutes)]
    if budget.validate_limit:
        args += ["--val-limit", str(budget.validate_limit)]
    if init is not None:
        args += ["--init-from", str(init)]
    return args


def train_row(row: RowSpec, budget: Budget, data: Path, rows_dir: Path, rep: Reproduction) -> dict[str, Any]:
    from markupeval.cli import main

    run_dir = rows_dir / row.key / "train"
    init = rows_dir / row.init_from / "train" / "best.pt" if row.init_from else None
    settings = {"args": _train_args(row, budget, data, run_dir, init), "budget": asdict(budget),
                "init": _file_id(init) if init else None}
    done = _done(run_dir / "done.json", settings)
    if done and (run_dir / "best.pt").is_file():
        return done
    resume = (run_dir / "last.pt").is_file() and _done(run_dir / "started.json", settings) is not None
    if not resume and run_dir.exists():
        for stale in ("last.pt", "best.pt", "history.jsonl"):
            (run_dir / stale).unlink(missing_ok=True)
    _record(run_dir / "started.json", settings)
    t0 = time.perf_counter()
    code = main(settings["args"] + (["--resume"] if resume else []))
    if code != 0:
        raise InputError(f"training {row.label} failed (exit code {code})", run_dir)
    rep.trained.append(row.key)
    return _record(run_dir / "done.json", settings, minutes=round((time.perf_counter() - t0) / 60, 2),
                   hardware=hardware(budget.device), resumed=resume)


def predict_row(row: RowSpec, budget: Budget, data: Path, row_dir: Path, perplexity: bool) -> dict[str, Any]:
    """Decode the test split (and the test perplexity of the gold) with the row's best checkpoint."""
    ckpt = row_dir / "train" / "best.pt"
    settings = {"checkpoint": _file_id(ckpt), "beam": budget.beam, "max_len": budget.max_len,
                "limit": budget.test_limit, "perplexity": perplexity, "image": "--no-image" not in row.flags}
    done = _done(row_dir / "predict.json", settings)
    if done and (row_dir / "preds.jsonl").is_file():
        return done
    from markupeval.baselines.common.commands import load_model, predict, write_jsonl
    from markupeval.baselines.common.data import ImageSet
    from markupeval.baselines.common.device import seed_everything, select_device
    from markupeval.data import Im2LatexDataset

    spec = _spec(row.kind)
    device = select_device(budget.device)
    seed_everything(0, device, budget.threads)
    model, vocab, cfg = load_model(ckpt, spec, device)
    test = ImageSet.from_dataset(Im2LatexDataset(data, "test"), vocab, limit=budget.test_limit)
    values: dict[str, Any] = {"images": len(test.names)}
    t0 = time.perf_counter()
    if settings["image"]:
        preds, stats = predict(model, spec, test, budget.beam, budget.batch_size or 20, device,
                               max_len=budget.max_len)
        write_jsonl(row_dir / "preds.jsonl", test.names, preds)
        values.update(spec.summarize(stats))
    else:
        (row_dir / "preds.jsonl").write_text("", encoding="utf-8")  # a language model reads no image
    values["decode_seconds"] = round(time.perf_counter() - t0, 2)
    if perplexity:
        values["test_perplexity"] = _perplexity(model, test, device, budget.batch_size or 20)
    return _record(row_dir / "predict.json", settings, **values)


def _spec(kind: str) -> Any:
    if kind == "im2tex":
        from markupeval.baselines.im2tex.cli import spec
    else:
        from markupeval.baselines.ctc.cli import spec
    return spec()


def _perplexity(model: Any, data: Any, device: Any, batch_size: int) -> float:
    """exp(-sum log p(gold) / tokens) over the test formulas, ``</s>`` counted (im2markup's)."""
    import math

    import torch

    from markupeval.baselines.common.data import bucket_batches

    logp, tokens = 0.0, 0
    data.plan(bucket_batches(data.sizes, batch_size, shuffle=False))
    with torch.no_grad():
        for batch in data.loader(device):
            batch = batch.to(device)
            logp += float(model.sequence_logprob(batch).sum())
            tokens += int((batch.targets[:, 1:] != 0).sum())
    return round(math.exp(-logp / max(tokens, 1)), 4)


def ngram_row(row_dir: Path, data: Path, limit: int | None) -> dict[str, Any]:
    from markupeval.baselines.ngram import KneserNey
    from markupeval.data import read_formulas
    from markupeval.data.lists import read_split_list
    from markupeval.data.reader import FORMULAS_FILE, list_file

    formulas_path = data / FORMULAS_FILE
    settings = {"order": 5, "formulas": _file_id(formulas_path), "limit": limit}
    done = _done(row_dir / "predict.json", settings)
    if done:
        return done
    formulas = read_formulas(formulas_path)

    def split(name: str, n: int | None = None) -> list[list[str]]:
        entries = read_split_list(list_file(data, name), n_formulas=len(formulas))
        return [formulas[e.formula_idx].split() for e in entries[:n]]

    t0 = time.perf_counter()
    lm = KneserNey(5).fit(split("train"))
    ppl = lm.perplexity(split("test", limit))
    return _record(row_dir / "predict.json", settings, test_perplexity=round(ppl, 4),
                   minutes=round((time.perf_counter() - t0) / 60, 2))


def classical_row(row_dir: Path, data: Path, budget: Budget, rep: Reproduction) -> dict[str, Any]:
    """Render the test gold at 200 dpi with the ``dataset`` template and run the classical OCR."""
    from markupeval.baselines.classical.glyphs import load_or_build
    from markupeval.baselines.classical.predict import predict
    from markupeval.cli import main
    from markupeval.data import read_formulas
    from markupeval.data.lists import read_split_list
    from markupeval.data.reader import FORMULAS_FILE, list_file

    formulas = read_formulas(data / FORMULAS_FILE)
    entries = read_split_list(list_file(data, "test"), n_formulas=len(formulas))[:budget.test_limit]
    settings = {"test": _file_id(list_file(data, "test")), "limit": budget.test_limit, "template": "dataset"}
    done = _done(row_dir / "predict.json", settings)
    if done and (row_dir / "preds.jsonl").is_file():
        return done
    t0 = time.perf_counter()
    rep.rendered = True
    _, glyph_path = load_or_build(None)
    images = row_dir / "images"
    (row_dir).mkdir(parents=True, exist_ok=True)
    (row_dir / "test_gold.txt").write_text("".join(formulas[e.formula_idx] + "\n" for e in entries), encoding="utf-8")
    (row_dir / "test_names.txt").write_text("".join(e.name + ".png\n" for e in entries), encoding="utf-8")
    code = main(["render", str(row_dir / "test_gold.txt"), str(images), "--names", str(row_dir / "test_names.txt"),
                 "--template", "dataset"])
    if code != 0:
        raise InputError(f"rendering the test gold failed (exit code {code})", row_dir / "test_gold.txt")
    summary = predict(images, row_dir / "preds.jsonl", glyph_path, workers=None, progress=False)
    # An image that did not render has no file, so no prediction; score counts it as missing.
    return _record(row_dir / "predict.json", settings, images=summary.images,
                   minutes=round((time.perf_counter() - t0) / 60, 2), hardware=hardware("cpu"))


def score_row(row_dir: Path, data: Path, limit: int | None, rep: Reproduction) -> Path:
    from markupeval.data.reader import list_file
    from markupeval.scoring import ScoreConfig, score_files

    preds = row_dir / "preds.jsonl"
    split = list_file(data, "test")
    if limit is not None:  # score against the predicted subset, not the whole list
        lines = split.read_text(encoding="utf-8").split("\n")
        sub = row_dir / "test_subset.lst"
        text = "\n".join([l for l in lines if l.strip()][:limit]) + "\n"
        if not sub.is_file() or sub.read_text(encoding="utf-8") != text:
            sub.write_text(text, encoding="utf-8")
        split = sub
    settings = {"preds": _file_id(preds), "split": _file_id(split), "gold": _file_id(data / "formulas.norm.lst")}
    run_path = row_dir / "run.json"
    if _done(row_dir / "score.json", settings) and run_path.is_file():
        return run_path
    result = score_files(preds, data / "formulas.norm.lst", split=split, config=ScoreConfig(), name=row_dir.name)
    result.save(run_path)
    rep.rendered = True
    _record(row_dir / "score.json", settings)
    return run_path


# --------------------------------------------------------------------------- the whole flow


def reproduce(
    table: str,
    budget: str = "smoke",
    *,
    out: Path | None = None,
    data: Path | None = None,
    holdings: Path | None = None,
    on_row: Callable[[str], None] = lambda msg: None,
) -> Reproduction:
    """Build or reuse everything the table needs and return what was measured."""
    if table not in TABLES:
        raise InputError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    if budget not in BUDGETS:
        raise InputError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    b = BUDGETS[budget]
    out = Path(out) if out else Path("runs") / f"reproduce-{budget}"
    holdings = Path(holdings) if holdings else default_holdings()
    data_dir, data_note = build_data(b, out, holdings, data)
    rep = Reproduction(table, b, out, data_dir, data_note,
                       data_label="given" if data else ("smoke subset" if b.data == "subset" else "reference recipe"))
    rows_dir = out / "rows"
    wanted = rows_for(table)
    for row in needed_rows(wanted):
        row_dir = rows_dir / row.key
        info: dict[str, Any] = {"spec": row}
        on_row(f"{row.label}: {row.kind}")
        if row.kind in ("im2tex", "ctc"):
            info["train"] = train_row(row, b, data_dir, rows_dir, rep)
            info["predict"] = predict_row(row, b, data_dir, row_dir, perplexity=row.kind == "im2tex")
        elif row.kind == "classical":
            info["predict"] = classical_row(row_dir, data_dir, b, rep)
        elif row.kind == "ngram":
            info["predict"] = ngram_row(row_dir, data_dir, b.test_limit)
        if row.kind in ("im2tex", "ctc", "classical") and "--no-image" not in row.flags:
            info["run"] = score_row(row_dir, data_dir, b.test_limit, rep)
        rep.rows[row.key] = info
    write_boards(rep)
    return rep


def default_holdings() -> Path:
    """``../shared/data/im2latex100k`` beside the repository (the offline holdings)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "im2latex100k"


# --------------------------------------------------------------------------- the board

#: (key, header) of the Table 2 columns: the paper's four, then ours only.
T2_METRICS = (("bleu_tok", "BLEU (tok)"), ("bleu_norm", "BLEU (norm)"), ("image_match", "Match"),
              ("image_match_ws", "Match (-ws)"), ("image_edit_distance", "Image ED"), ("edit_distance", "Text ED"),
              ("exact_match", "Exact"))


def board_frame(rep: Reproduction) -> tuple[pd.DataFrame, list[str]]:
    """The side-by-side board as ONE DataFrame (paper / ours columns adjacent) and its notes."""
    from markupeval.leaderboard import measured_row, read_published
    from markupeval.stats.runs import read_run

    published = {(r.model, r.attention): r for r in read_published() if r.dataset == "IM2LATEX-100K"}
    n = int(rep.table.removeprefix("table"))
    signatures: list[str] = []
    records, row_notes = [], []
    for spec in rows_for(rep.table):
        info = rep.rows.get(spec.key, {})
        paper = published.get((spec.model, spec.attention))
        ours: dict[str, float | None] = {}
        signature = ""
        if "run" in info:
            run = read_run(info["run"])
            ours = measured_row(run).values
            signature = run.signature
            if run.signature not in signatures:
                signatures.append(run.signature)
        pred = info.get("predict", {})
        rec: dict[str, Any] = {"row": TABLE3_LABELS.get(spec.key, spec.label) if n == 3 else spec.label}
        if n == 2:
            for key, header in T2_METRICS:
                rec[f"{header} paper"] = paper.values.get(key) if paper else None
                rec[f"{header} ours"] = ours.get(key)
        elif n == 3:
            rec["Perplexity paper"] = TABLE3_PUBLISHED.get(spec.key)
            rec["Perplexity ours"] = pred.get("test_perplexity")
            for key, header in (("bleu_norm", "BLEU (norm)"), ("image_match", "Match")):
                rec[f"{header} ours"] = ours.get(key)
        else:
            lookups = paper.lookups if paper else None
            rec["#C paper"] = lookups[0] if lookups else None
            rec["#C ours"] = pred.get("avg_coarse_lookups")
            rec["#F paper"] = lookups[1] if lookups else None
            rec["#F ours"] = pred.get("avg_fine_lookups")
        train = info.get("train", {})
        minutes = train.get("minutes", pred.get("minutes"))
        rec["data"] = "" if spec.kind == "none" else rep.data_label
        rec["budget"] = rep.budget.name if spec.kind != "none" else ""
        rec["hardware"] = train.get("hardware", pred.get("hardware", hardware("cpu") if spec.kind == "ngram" else ""))
        rec["minutes"] = minutes
        rec["signature"] = signature
        records.append(rec)
        if spec.note:
            row_notes.append(f"{rec['row']}: {spec.note}")
    frame = pd.DataFrame.from_records(records)
    # The full signature is a column of the CSV; the other formats print it once under the table.
    frame.attrs["notes_only"] = ["signature"]
    notes = [
        f"{rep.table.replace('table', 'Table ')} of Deng et al., Image-to-Markup Generation with Coarse-to-Fine "
        "Attention, ICML 2017: 'paper' = published, 'ours' = measured here by `markupeval reproduce "
        f"{rep.table} --budget {rep.budget.name}`; empty = not reported / not measured. Values in % "
        "(BLEU on 0-100); perplexity per token, </s> included; lookups per decoding step, beam search.",
        f"data ({rep.data_label}): {rep.data_note}",
        f"budget {rep.budget.name}: " + ", ".join(f"{k}={v}" for k, v in asdict(rep.budget).items() if k != "name"),
        "minutes: training wall-clock of the row (classical, NGRAM: rendering/fitting and predicting)",
        *row_notes,
    ]
    if n == 3:
        notes.append("Table 3's published perplexities were not found in the sources reachable when this was "
                     "written; the paper columns are left empty rather than guessed.")
    notes += [f"signature [{i}]: {sig}" for i, sig in enumerate(signatures, start=1)]
    return frame, notes


def write_boards(rep: Reproduction) -> dict[str, Path]:
    from markupeval.leaderboard import write_frame

    frame, notes = board_frame(rep)
    paths = {}
    for fmt, ext in (("markdown", "md"), ("csv", "csv"), ("html", "html"), ("latex", "tex"), ("rich", "txt")):
        path = rep.out / f"{rep.table}.{ext}"
        path.write_text(write_frame(frame, fmt, notes, title=f"{rep.table} side by side"), encoding="utf-8")
        paths[fmt] = path
    return paths
