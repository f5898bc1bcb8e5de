"""Leaderboard: published rows exactly as the paper, measured rows from real runs, every format."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from markupeval.cli import main
from markupeval.errors import InputError
from markupeval.leaderboard import COLUMN_KEYS, MISSING, build_board, read_published, render
from markupeval.stats.runs import read_run

from conftest import SHARED, require_shared  # noqa: E402

DATA = SHARED / "data"
needs_shared = pytest.mark.shared  # conftest: fails under CI=true without ../shared, else skips

# Column order of the protocol's Table 2 transcription: BLEU (tok), BLEU (norm), Match, Match (-ws).
PAPER_COLUMNS = ("bleu_tok", "bleu_norm", "image_match", "image_match_ws")


def _protocol_table2() -> dict[tuple[str, str], list[float]]:
    text = (SHARED / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    section = text.split("## Published numbers to reproduce", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"\d+\.\d\d", cells[2]):
            rows[(cells[0], cells[1])] = [float(c) for c in cells[2:]]
    return rows


@needs_shared
def test_published_rows_are_the_protocols_table2():
    expected = _protocol_table2()
    assert len(expected) == 9
    published = {(r.model, r.attention): r for r in read_published() if r.dataset == "IM2LATEX-100K"}
    assert set(published) == set(expected)
    for key, numbers in expected.items():
        assert [published[key].values[c] for c in PAPER_COLUMNS] == numbers, key
        assert published[key].values["image_edit_distance"] is None  # the paper does not report it


def test_published_rows_carry_sources_and_table4():
    rows = read_published()
    assert all(r.tag == "published" and r.source.startswith("Table 2") for r in rows)
    lookups = {(r.model, r.attention): r.lookups for r in rows if r.lookups}
    assert lookups == {
        ("IM2TEX", "standard"): (0, 355),
        ("IM2TEX", "coarse-only"): (22, 0),
        ("IM2TEX", "hierarchical"): (22, 355),
        ("IM2TEX-C2F", "hard"): (22, 16),
        ("IM2TEX-C2F", "sparsemax"): (22, 74),
    }
    crohme = {r.dataset: r.values["image_match"] for r in rows if r.dataset.startswith("CROHME")}
    assert crohme == {"CROHME14": 38.74, "CROHME13": 33.53}


def test_bad_published_file_names_the_line(tmp_path):
    path = tmp_path / "published.csv"
    good = read_published_text()
    lines = good.splitlines()
    lines[3] = lines[3].replace("52.53", "52,53x")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_published(path)
    assert info.value.path == path and info.value.line == 4


def read_published_text() -> str:
    return (Path(__file__).resolve().parents[1] / "leaderboard" / "published.csv").read_text(encoding="utf-8")


def _run_json(path: Path, name: str, metrics: dict, signature: str) -> Path:
    path.write_text(json.dumps({"name": name, "metrics": metrics, "signature": signature, "stat_names": {}, "samples": []}))
    return path


def test_measured_rows_rank_scale_and_missing_cells(tmp_path):
    tok = _run_json(tmp_path / "tok.json", "tokmodel", {"bleu": 60.5, "image_match": 0.8, "exact_match": 0.5},
                    "mode:compatible|gold:tok|version:0.1.0")
    norm = _run_json(tmp_path / "norm.json", "normmodel", {"bleu": 88.0, "edit_distance": 0.9}, "mode:compatible|gold:norm|version:0.1.0")
    board = build_board([read_run(tok), read_run(norm)])
    rows = {r.model: r for r in board.rows if r.tag == "measured"}
    assert rows["tokmodel"].values["bleu_tok"] == 60.5 and rows["tokmodel"].values["bleu_norm"] is None
    assert rows["tokmodel"].values["image_match"] == pytest.approx(80.0)
    assert rows["normmodel"].values["bleu_norm"] == 88.0 and rows["normmodel"].values["image_match"] is None
    # 80.00 Match ranks above every published IM2LATEX-100K row (best 77.46); no Match -> no rank.
    assert rows["tokmodel"].rank == 1 and rows["normmodel"].rank is None
    assert [r.model for r in board.rows][:2] == ["tokmodel", "IM2TEX"]
    assert rows["tokmodel"].note == 1 and rows["normmodel"].note == 2
    md = render(board, "markdown")
    line = next(l for l in md.splitlines() if "normmodel" in l)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[5:12] == [MISSING, "88.00", MISSING, MISSING, MISSING, "90.00", MISSING]
    assert "`mode:compatible|gold:tok|version:0.1.0`" in md


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    """The two shared real prediction files scored (text metrics) with `markupeval score`."""
    require_shared()
    out = tmp_path_factory.mktemp("runs")
    paths = []
    for name in ("resultsT", "results65_100"):
        path = out / f"{name}.json"
        code = main([
            "score", str(DATA / "predictions" / f"{name}.txt"),
            "--gold", str(DATA / "im2latex100k" / "tgt-test-old.txt"),
            "--names", str(DATA / "im2latex100k" / "src-test-old.txt"),
            "--no-images", "--json", str(path),
        ])
        assert code == 0
        paths.append(path)
    return paths


# SCORES.md beside the predictions: BLEU (norm) and edit distance accuracy as published.
PUBLISHED_PREDICTION_SCORES = {"resultsT": (88.02, 90.4904), "results65_100": (87.45, 90.3960)}


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._in = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._in = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in = False

    def handle_data(self, data):
        if self._in:
            self.rows[-1][-1] += data


@pytest.mark.parametrize("fmt", ["rich", "markdown", "latex", "csv", "html"])
def test_real_runs_in_every_format(real_runs, tmp_path, fmt):
    out = tmp_path / f"board.{fmt}"
    assert main(["leaderboard", *map(str, real_runs), "--format", fmt, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    # Published rows are there in every format, with their numbers.
    for number in ("87.73", "77.46", "79.88", "38.74", "33.53", "22/16" if fmt != "csv" else "16"):
        assert number in text, (fmt, number)
    assert "gold:norm" in text  # the measured rows' signature is printed with the table
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        measured = {r["model"]: r for r in rows if r["tag"] == "measured"}
        for name, (bleu, ed) in PUBLISHED_PREDICTION_SCORES.items():
            assert float(measured[name]["bleu_norm"]) == pytest.approx(bleu, abs=0.005)
            assert float(measured[name]["edit_distance"]) == pytest.approx(ed, abs=0.0001)
            assert measured[name]["image_match"] == ""  # scored without images: missing, not zero
        assert sum(r["tag"] == "published" for r in rows) == 11
    else:
        for name, (bleu, ed) in PUBLISHED_PREDICTION_SCORES.items():
            shown = name.replace("_", "\\_") if fmt == "latex" else name
            line = next(l for l in text.splitlines() if shown in l and "run " not in l)
            assert f"{bleu:.2f}" in line and f"{ed:.2f}" in line, (fmt, line)
    if fmt == "markdown":
        table = [l for l in text.splitlines() if l.startswith("|")]
        assert len({l.count(" | ") for l in table}) == 1  # every row has the header's columns
        assert len(table) == 2 + 11 + 2
    if fmt == "html":
        parser = _Cells()
        parser.feed(text)
        header = parser.rows[0]
        body = [r for r in parser.rows[1:] if len(r) == len(header)]
        assert len(body) == 13 and "Match (-ws)" in header
    if fmt == "latex":
        assert "\\toprule" in text and "\\midrule" in text and "\\bottomrule" in text
        _compile_latex(text, tmp_path)


def _compile_latex(table: str, tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: cannot check that the LaTeX table compiles")
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[landscape,margin=1cm]{geometry}\n"
        "\\usepackage{booktabs}\n\\begin{document}\n" + table + "\\end{document}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_cli_bad_run_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "run.json"
    bad.write_text('{"metrics": {"bleu": NaN}}')
    assert main(["leaderboard", str(bad), "--format", "csv"]) == 2
    assert "run.json" in capsys.readouterr().err


def test_compare_cli_on_real_runs(real_runs, tmp_path):
    """`markupeval compare` on the two real runs: intervals around the values, a paired difference."""
    out = tmp_path / "cmp.json"
    resultsT, results65 = real_runs
    assert main(["compare", str(results65), str(resultsT), "--resamples", "300", "--json", str(out)]) == 0
    cmp = json.loads(out.read_text())
    assert cmp["n_samples"] == 10355 and "resamples:300" in cmp["signature"]
    bleu = cmp["differences"]["bleu"]
    a, b = cmp["intervals_a"]["bleu"], cmp["intervals_b"]["bleu"]
    assert (round(a["value"], 2), round(b["value"], 2)) == (87.45, 88.02)
    assert bleu["delta"] == pytest.approx(b["value"] - a["value"])
    assert bleu["low"] <= bleu["delta"] <= bleu["high"]
    for side in ("intervals_a", "intervals_b"):
        for name, interval in cmp[side].items():
            assert interval["low"] <= interval["value"] <= interval["high"], (side, name)
    # 0.57 BLEU over 10,355 paired samples is far outside resampling noise.
    assert bleu["p_value"] < 0.01 and bleu["low"] > 0
