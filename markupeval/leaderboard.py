"""Leaderboards: the paper's published rows and measured runs in one ranked table.

The table model (:class:`Board`) is built once, turned into one pandas DataFrame
(:func:`board_frame`) and written from that frame by one renderer per format: rich, Markdown
(GitHub), LaTeX (booktabs), CSV and a standalone HTML page. Published rows come from
``leaderboard/published.csv`` (Deng et al., ICML 2017, Tables 2 and 4, with their source);
measured rows from run files (``markupeval score --json``). Every measured row carries its run's
signature, printed under the table: a number without the settings that produced it is not shown.

All values are shown as percentages with two decimals, the paper's convention (BLEU is already on
0-100; the run file's fractions are multiplied by 100).
"""

from __future__ import annotations

import csv
import html
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from markupeval.errors import InputError
from markupeval.metrics.base import Signature
from markupeval.stats.runs import RunView, read_run

log = logging.getLogger("markupeval")

FORMATS = ("rich", "markdown", "latex", "csv", "html")
MISSING = "–"  # en dash: a cell the source does not report
PUBLISHED, MEASURED = "published", "measured"

#: Where the published rows live: package data (a symlink to the repository's
#: leaderboard/published.csv, the file itself in a wheel).
DEFAULT_PUBLISHED = Path(__file__).parent / "published.csv"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    latex: str


#: The paper's columns (Table 2), then the text metrics the paper does not report.
COLUMNS: tuple[Column, ...] = (
    Column("bleu_tok", "BLEU (tok)", "BLEU (tok)"),
    Column("bleu_norm", "BLEU (norm)", "BLEU (norm)"),
    Column("image_edit_distance", "Image ED", "Image ED"),
    Column("image_match", "Match", "Match"),
    Column("image_match_ws", "Match (-ws)", "Match ($-$ws)"),
    Column("edit_distance", "Text ED", "Text ED"),
    Column("exact_match", "Exact", "Exact"),
    Column("cdm_f1", "CDM", "CDM"),
    Column("cdm_exprate", "ExpRate@CDM", "ExpRate@CDM"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)

# Run-file metric names that map one to one onto a column (fractions, shown x100).
_RUN_FRACTIONS = ("image_edit_distance", "image_match", "image_match_ws", "edit_distance", "exact_match",
                  "cdm_f1", "cdm_exprate")
#: Columns a published table may leave out (Deng et al. predate CDM).
_OPTIONAL_COLUMNS = ("cdm_f1", "cdm_exprate")

DATASET_ORDER = ("IM2LATEX-100K", "CROHME14", "CROHME13", "CROHME16")

#: A run file's ``inputs.dataset`` (``markupeval score --dataset``) -> the board's dataset name.
RUN_DATASETS = {"crohme2013": "CROHME13", "crohme2014": "CROHME14", "crohme2016": "CROHME16"}


@dataclass
class Row:
    model: str
    attention: str
    dataset: str
    tag: str  # "published" | "measured"
    values: dict[str, float | None]
    source: str
    signature: str = ""
    lookups: tuple[int, int] | None = None  # Table 4: (coarse, fine) attention lookups per step
    rank: int | None = None
    note: int | None = None  # footnote number of the signature (measured rows)


@dataclass
class Board:
    rows: list[Row]
    rank_by: str
    signatures: list[str] = field(default_factory=list)  # footnote i+1 -> signature
    published_source: str = ""

    def datasets(self) -> list[str]:
        seen = list(dict.fromkeys(r.dataset for r in self.rows))
        return sorted(seen, key=lambda d: (DATASET_ORDER.index(d) if d in DATASET_ORDER else len(DATASET_ORDER), d))

    def protocol_lines(self) -> list[str]:
        """The lines printed under every format: what the published and measured numbers mean."""
        lines = [
            f"Ranked by {_header(self.rank_by)} within each dataset; {MISSING} = not reported. "
            "All values in %. ED = edit distance accuracy.",
        ]
        if any(r.tag == PUBLISHED for r in self.rows):
            lines.append(
                f"published: {self.published_source}; Table 2 values, attention lookups #C/#F from Table 4; "
                "scored by the authors with the original im2markup scripts."
            )
        for i, sig in enumerate(self.signatures, start=1):
            lines.append(f"[{i}] measured: {sig or 'no signature recorded in the run file'}")
        return lines


def _header(key: str) -> str:
    return next((c.header for c in COLUMNS if c.key == key), key)


# --------------------------------------------------------------------------- building


def read_published(path: Path | str = DEFAULT_PUBLISHED) -> list[Row]:
    """Published rows; Table 4's attention lookups are joined onto the Table 2 row of the same model."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read published results: {exc.strerror or exc}", path) from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"table", "dataset", "model", "attention", "paper", "row", *COLUMN_KEYS, "lookups_coarse", "lookups_fine"}
    needed -= set(_OPTIONAL_COLUMNS)
    missing = needed - set(reader.fieldnames or ())
    if missing:
        raise InputError(f"missing columns {sorted(missing)}", path, 1)
    rows: list[Row] = []
    lookups: dict[tuple[str, str, str], tuple[int, int, str]] = {}
    for line, rec in enumerate(reader, start=2):
        try:
            values = {k: _cell(rec.get(k) or "") for k in COLUMN_KEYS}
            if rec["table"] == "4":
                lookups[(rec["dataset"], rec["model"], rec["attention"])] = (
                    int(rec["lookups_coarse"]),
                    int(rec["lookups_fine"]),
                    rec["row"],
                )
                continue
        except ValueError as exc:
            raise InputError(f"bad number: {exc}", path, line) from None
        source = f"Table {rec['table']}, {rec['row']}"
        rows.append(Row(rec["model"], rec["attention"], rec["dataset"], PUBLISHED, values, source))
    for row in rows:
        joined = lookups.get((row.dataset, row.model, row.attention))
        if joined:
            row.lookups = joined[:2]
            row.source += f"; Table 4, {joined[2]}"
    return rows


def _cell(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _bleu_variant(run: RunView) -> str:
    """'tok' or 'norm': which gold the run's BLEU was scored against, read from its signatures."""
    sigs = [run.signature]
    bleu = run.scores.get("bleu")
    if isinstance(bleu, dict) and bleu.get("signature"):
        sigs.insert(0, str(bleu["signature"]))
    for sig in sigs:
        for key, value in Signature.parse(sig).fields:
            if key in ("gold", "gold_variant", "gv", "gold_form") and value in ("tok", "norm"):
                return value
    # Normalized gold is the protocol's default (docs/PROTOCOL.md, "BLEU (norm)").
    return "norm"


def measured_row(run: RunView, dataset: str = "IM2LATEX-100K") -> Row:
    values: dict[str, float | None] = dict.fromkeys(COLUMN_KEYS)
    if "bleu" in run.metrics:
        values[f"bleu_{_bleu_variant(run)}"] = run.metrics["bleu"]
    for key in ("bleu_tok", "bleu_norm"):
        if key in run.metrics:  # a run may carry both variants under explicit names
            values[key] = run.metrics[key]
    for key in _RUN_FRACTIONS:
        if key in run.metrics:
            values[key] = 100.0 * run.metrics[key]
    unknown = set(run.metrics) - {"bleu", "bleu_tok", "bleu_norm", *_RUN_FRACTIONS}
    if unknown:
        log.info("%s: metrics without a leaderboard column: %s", run.path, ", ".join(sorted(unknown)))
    # A run scored with --dataset goes beside that dataset's published rows whatever the default.
    dataset = RUN_DATASETS.get(str(run.inputs.get("dataset")), dataset)
    return Row(run.name, "", dataset, MEASURED, values, f"run {run.path.name}", signature=run.signature)


def build_board(
    runs: Sequence[RunView] = (),
    *,
    published: Sequence[Row] | None = None,
    rank_by: str = "image_match",
    dataset: str = "IM2LATEX-100K",
) -> Board:
    """Published and measured rows, ranked by ``rank_by`` within each dataset."""
    if rank_by not in COLUMN_KEYS:
        raise InputError(f"cannot rank by {rank_by!r}; choose one of {', '.join(COLUMN_KEYS)}")
    rows = list(published if published is not None else read_published())
    board = Board(rows=[], rank_by=rank_by)
    if published is None or rows:
        board.published_source = "Deng et al., Image-to-Markup Generation with Coarse-to-Fine Attention, ICML 2017"
    for run in runs:
        row = measured_row(run, dataset)
        if row.signature not in board.signatures:
            board.signatures.append(row.signature)
        row.note = board.signatures.index(row.signature) + 1
        rows.append(row)
    # Tie-break on BLEU (norm), then name, so the order never depends on input order.
    secondary = "bleu_norm" if rank_by != "bleu_norm" else "bleu_tok"
    for ds in dict.fromkeys(r.dataset for r in rows):
        group = [r for r in rows if r.dataset == ds]
        group.sort(key=lambda r: (_desc(r.values[rank_by]), _desc(r.values[secondary]), r.model, r.attention))
        rank = 0
        for r in group:
            if r.values[rank_by] is not None:
                rank += 1
                r.rank = rank
        board.rows.extend(group)
    board.rows.sort(key=lambda r: board.datasets().index(r.dataset) if r.dataset in board.datasets() else 0)
    return board


def _desc(value: float | None) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, -value)


def load_board(run_paths: Iterable[Path | str], **kwargs) -> Board:
    return build_board([read_run(p) for p in run_paths], **kwargs)


# --------------------------------------------------------------------------- the board as a DataFrame


#: Columns of :func:`board_frame`, the one table every format is written from.
FRAME_COLUMNS = ("dataset", "rank", "model", "attention", "tag", *COLUMN_KEYS, "lookups_coarse", "lookups_fine",
                 "source", "signature", "note")


def board_frame(board: Board) -> pd.DataFrame:
    """The board as one DataFrame, in board order: values on the paper's scale (%), ``NaN`` where
    the source does not report a value, ``<NA>`` ranks/lookups/notes where there is none. Every
    format below is written from this frame; it is also what a notebook gets (``markupeval.load_board``)."""
    records = []
    for r in board.rows:
        source = r.source if r.tag == MEASURED else f"{board.published_source}, {r.source}"
        records.append({
            "dataset": r.dataset, "rank": r.rank, "model": r.model, "attention": r.attention, "tag": r.tag,
            **{k: r.values[k] for k in COLUMN_KEYS},
            "lookups_coarse": r.lookups[0] if r.lookups else None,
            "lookups_fine": r.lookups[1] if r.lookups else None,
            "source": source, "signature": r.signature, "note": r.note,
        })
    frame = pd.DataFrame.from_records(records, columns=list(FRAME_COLUMNS))
    for col in COLUMN_KEYS:
        frame[col] = frame[col].astype("float64")
    for col in ("rank", "lookups_coarse", "lookups_fine", "note"):
        frame[col] = frame[col].astype("Int64")
    frame.attrs.update(rank_by=board.rank_by, notes=board.protocol_lines())
    return frame


def _fmt(value: object) -> str:
    if value is None or pd.isna(value):
        return MISSING
    value = float(value)
    return MISSING if not math.isfinite(value) else f"{value:.2f}"


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The board's cells as shown: two decimals, ``–`` for missing, the footnote after the system."""
    out = pd.DataFrame({
        "#": frame["rank"].map(lambda v: MISSING if pd.isna(v) else str(v)),
        "System": frame["model"] + frame["note"].map(lambda v: "" if pd.isna(v) else f" [{v}]"),
        "Attention": frame["attention"].map(lambda v: v or MISSING),
        "Tag": frame["tag"],
    })
    for c in COLUMNS:
        out[c.header] = frame[c.key].map(_fmt)
    out["Lookups #C/#F"] = [
        MISSING if pd.isna(c) else f"{c}/{f}" for c, f in zip(frame["lookups_coarse"], frame["lookups_fine"])
    ]
    return out


HEADERS = ("#", "System", "Attention", "Tag", *(c.header for c in COLUMNS), "Lookups #C/#F")


def render(board: Board, fmt: str) -> str:
    """The board as text in one of :data:`FORMATS`."""
    renderers = {
        "rich": to_rich_text,
        "markdown": to_markdown,
        "latex": to_latex,
        "csv": to_csv,
        "html": to_html,
    }
    if fmt not in renderers:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](board)


def _groups(frame: pd.DataFrame, cells: pd.DataFrame):
    """(dataset, its display rows) in board order (datasets are contiguous in a board)."""
    for ds in dict.fromkeys(frame["dataset"]):
        yield ds, cells[frame["dataset"] == ds], frame[frame["dataset"] == ds]


def to_rich(board: Board) -> Table:
    frame = board_frame(board)
    cells = display_frame(frame)
    table = Table(title="IM2LATEX-100K protocol leaderboard", caption="\n".join(board.protocol_lines()), caption_justify="left")
    # Row labels stay whole (searchable, and the [n] of a signature note must stay visible): the
    # System column is as wide as its longest label; the numeric columns give way instead.
    label_width = max([len(str(v)) for v in cells.iloc[:, 1]] + [len(HEADERS[1])])
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="right" if i >= 4 or i == 0 else "left",
                         style="bold" if header == _header(board.rank_by) else None,
                         min_width=label_width if i == 1 else None, no_wrap=i == 1)
    for ds, group, rows in _groups(frame, cells):
        table.add_section()
        table.add_row("", f"[italic]{escape(ds)}[/]", *[""] * (len(HEADERS) - 2))
        for tag, line in zip(rows["tag"], group.itertuples(index=False)):
            table.add_row(*(escape(c) for c in line), style="cyan" if tag == MEASURED else None)
    return table


def to_rich_text(board: Board, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(to_rich(board))
    return console.export_text()


def _md_escape(text: str) -> str:
    return text.replace("|", r"\|")


def markdown_table(cells: pd.DataFrame, align: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table of string cells (pipes escaped)."""
    align = list(align) if align is not None else ["---"] * cells.shape[1]
    lines = ["| " + " | ".join(_md_escape(str(c)) for c in cells.columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_escape(str(c)) for c in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _md_notes(lines: Sequence[str]) -> list[str]:
    out = []
    for line in lines:
        head, sep, sig = line.partition(": ")
        out.append(f"- {head}: `{sig}`" if (line.startswith("[") or line.startswith("signature")) and sep else f"- {line}")
    return out


def to_markdown(board: Board) -> str:
    frame = board_frame(board)
    cells = display_frame(frame)
    rank_col = _header(board.rank_by)
    cells[rank_col] = [f"**{v}**" if not pd.isna(x) else v for v, x in zip(cells[rank_col], frame[board.rank_by])]
    cells.insert(0, "Dataset", frame["dataset"])
    align = ["---", "---:", "---", "---", "---", *(["---:"] * (len(COLUMNS) + 1))]
    return markdown_table(cells, align) + "\n" + "\n".join(_md_notes(board.protocol_lines())) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(board: Board) -> str:
    """A booktabs ``table`` float (needs ``\\usepackage{booktabs}``)."""
    frame = board_frame(board)
    cells = display_frame(frame)
    n_num = len(COLUMNS) + 1
    spec = "rllll" + "r" * n_num
    headers = ["\\#", "System", "Attention", "Tag", *(c.latex for c in COLUMNS), "\\#C/\\#F"]
    headers = [f"\\textbf{{{h}}}" if h == _latex_header(board.rank_by) else h for h in headers]
    out = [
        "% Generated by `markupeval leaderboard --format latex`; needs \\usepackage{booktabs}.",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        "Dataset & " + " & ".join(headers) + " \\\\",
    ]
    for ds, group, _ in _groups(frame, cells):
        out.append("\\midrule")
        for line in group.itertuples(index=False):
            out.append(" & ".join([latex_escape(ds), *(latex_escape(c) for c in line)]) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    out.append("\\par\\smallskip\\footnotesize")
    for line in board.protocol_lines():
        out.append("\\noindent " + _latex_wrap(latex_escape(line)) + "\\par")
    out += ["\\caption{IM2LATEX-100K protocol leaderboard.}", "\\end{table}"]
    return "\n".join(out) + "\n"


def _latex_header(key: str) -> str:
    return next((c.latex for c in COLUMNS if c.key == key), key)


def _latex_wrap(text: str) -> str:
    # Signatures are long unbroken strings: allow line breaks after each field separator.
    return text.replace("|", "|\\allowbreak{}")


def _csv_number(value: float, measured: bool) -> str:
    if pd.isna(value):
        return ""
    # Published numbers as printed (two decimals); measured ones with the precision they carry.
    return f"{value:.4f}".rstrip("0").rstrip(".") if measured else f"{value:.2f}"


def to_csv(board: Board) -> str:
    frame = board_frame(board)
    out = frame.drop(columns=["note"]).copy()
    measured = frame["tag"] == MEASURED
    for key in COLUMN_KEYS:
        out[key] = [_csv_number(v, m) for v, m in zip(frame[key], measured)]
    return out.to_csv(index=False, lineterminator="\n")


_HTML_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th{border-bottom:2px solid #333}
tr.measured td{background:#eef6ff}
tr.group td{font-style:italic;background:#f6f6f6}
th.rank-by{text-decoration:underline}
.notes{font-size:13px;color:#444;max-width:70em}
.notes code{word-break:break-all}
"""


def _html_page(title: str, table: str, notes: Sequence[str], page_title: str | None = None) -> str:
    e = html.escape
    items = "".join(
        f"<li><code>{e(line)}</code></li>" if line.startswith("[") or line.startswith("signature") else f"<li>{e(line)}</li>"
        for line in notes
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(page_title or title)}</title>"
        f"<style>{_HTML_STYLE}</style></head><body>"
        f"<h1>{e(title)}</h1>{table}"
        f"<ul class=\"notes\">{items}</ul></body></html>\n"
    )


def to_html(board: Board) -> str:
    e = html.escape
    frame = board_frame(board)
    cells = display_frame(frame)
    head = "".join(
        f'<th class="{"num" if i == 0 or i >= 4 else ""}{" rank-by" if h == _header(board.rank_by) else ""}">{e(h)}</th>'
        for i, h in enumerate(HEADERS)
    )
    body = []
    for ds, group, rows in _groups(frame, cells):
        body.append(f'<tr class="group"><td colspan="{len(HEADERS)}">{e(ds)}</td></tr>')
        for tag, line in zip(rows["tag"], group.itertuples(index=False)):
            tds = "".join(f'<td class="{"num" if i == 0 or i >= 4 else ""}">{e(c)}</td>' for i, c in enumerate(line))
            body.append(f'<tr class="{tag}">{tds}</tr>')
    table = f"<table id=\"leaderboard\"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return _html_page("IM2LATEX-100K protocol leaderboard", table, board.protocol_lines(), "markupeval leaderboard")


# --------------------------------------------------------------------------- any frame, any format


def _frame_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """String cells of a value frame: two decimals for floats, ``–`` for missing values."""
    def cell(v: object) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return MISSING
        if isinstance(v, float):
            return _fmt(v)
        return str(v)

    return frame.apply(lambda col: col.map(cell))


def write_frame(frame: pd.DataFrame, fmt: str, notes: Sequence[str] = (), title: str = "") -> str:
    """Any value frame (e.g. the side-by-side board of ``markupeval reproduce``) in one of
    :data:`FORMATS`, with ``notes`` (signatures, provenance) under it. CSV is the frame alone, raw
    values and every column; the other formats leave out the columns named in
    ``frame.attrs["notes_only"]`` (long strings such as signatures, which the notes print once)."""
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n")
    cells = _frame_cells(frame.drop(columns=[c for c in frame.attrs.get("notes_only", ()) if c in frame.columns]))
    if fmt == "markdown":
        return (f"## {title}\n\n" if title else "") + markdown_table(cells) + "\n" + "\n".join(_md_notes(notes)) + "\n"
    if fmt == "html":
        table = cells.to_html(index=False, escape=True, border=0)
        return _html_page(title or "markupeval", table, notes)
    if fmt == "latex":
        out = ["% needs \\usepackage{booktabs}", "\\begin{table}[t]", "\\centering", "\\small",
               f"\\begin{{tabular}}{{{'l' * cells.shape[1]}}}", "\\toprule",
               " & ".join(latex_escape(str(c)) for c in cells.columns) + " \\\\", "\\midrule"]
        out += [" & ".join(latex_escape(c) for c in row) + " \\\\" for row in cells.itertuples(index=False)]
        out += ["\\bottomrule", "\\end{tabular}", "\\par\\smallskip\\footnotesize"]
        out += ["\\noindent " + _latex_wrap(latex_escape(line)) + "\\par" for line in notes]
        out += [f"\\caption{{{latex_escape(title)}}}" if title else "", "\\end{table}"]
        return "\n".join(out) + "\n"
    if fmt == "rich":
        table = Table(title=title or None, caption="\n".join(notes), caption_justify="left")
        for i, col in enumerate(cells.columns):
            table.add_column(str(col), no_wrap=i == 0)  # row labels stay whole (searchable)
        for row in cells.itertuples(index=False):
            table.add_row(*(escape(c) for c in row))
        console = Console(file=io.StringIO(), width=240, record=True, color_system=None)
        console.print(table)
        return console.export_text()
    raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
