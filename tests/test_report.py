"""The HTML report: built from a real run and real renders, opened in real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from markupeval.cli import main
from markupeval.report import FolderImages, build_report
from markupeval.images.diff import MARK, diff_picture
from markupeval.report.plot import rates
from markupeval.stats.runs import read_run

from conftest import SHARED, require_shared  # noqa: E402
DATA = SHARED / "data"
PAIRS = SHARED / "golden" / "image-pairs"
N = 40


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    """The first 40 test images of results65_100, scored by `markupeval score` (text metrics)."""
    require_shared()
    d = tmp_path_factory.mktemp("run")
    gold = (DATA / "im2latex100k" / "tgt-test-old.txt").read_text(encoding="utf-8").split("\n")[:N]
    names = (DATA / "im2latex100k" / "src-test-old.txt").read_text(encoding="utf-8").split("\n")[:N]
    wanted = set(names)
    results = [
        line for line in (DATA / "predictions" / "results65_100.txt").read_text(encoding="utf-8").split("\n")
        if line.split("\t", 1)[0] in wanted
    ]
    # Leave one prediction out, so the report has a missing prediction to show.
    dropped = results.pop(3).split("\t", 1)[0]
    (d / "gold.txt").write_text("\n".join(gold) + "\n", encoding="utf-8")
    (d / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    (d / "results.txt").write_text("\n".join(results) + "\n", encoding="utf-8")
    out = d / "run.json"
    assert main(["score", str(d / "results.txt"), "--gold", str(d / "gold.txt"), "--names", str(d / "names.txt"),
                 "--no-images", "--json", str(out)]) == 0
    assert sum(s["prediction"] is None for s in json.loads(out.read_text())["samples"]) == 1
    (d / "dropped").write_text(dropped)
    return out


@pytest.fixture(scope="module")
def report(run_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    code = main(["report", str(run_file), "--out", str(out),
                 "--gold-images", str(PAIRS / "gold"), "--pred-images", str(PAIRS / "pred")])
    assert code == 0
    return out


def _sample_data(text: str) -> list[dict]:
    m = re.search(r'<script type="application/json" id="sample-data">(.*?)</script>', text, re.S)
    assert m
    return json.loads(m.group(1))


def test_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    # No network resources: nothing is fetched from a URL (links in text would be fine; there are none).
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text)
    assert "@import" not in text and "<link" not in text
    rows = _sample_data(text)
    assert len(rows) == N
    with_pictures = [r for r in rows if r["img"]]
    assert all(v.startswith("data:image/png;base64,") for r in with_pictures for k, v in r["img"].items() if len(k) == 1)
    # Every sample whose gold and prediction were rendered has all three pictures.
    assert sum(set(r["img"]) >= {"g", "p", "d"} for r in rows) >= N - 2
    # The run has no image metrics: Match is computed for the pairs shown, and said to be so.
    assert "compared for this report" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="length-plot"' in text
    assert "gold:norm" in text  # the run's signature is in the summary


def test_report_matches_the_golden_image_metrics(report):
    # The Match shown per pair equals the original evaluate_image.py's value for that pair.
    expected = {e["image"]: e for e in json.loads((PAIRS / "expected.json").read_text())}
    rows = _sample_data(report.read_text(encoding="utf-8"))
    checked = 0
    for r in rows:
        e = expected[r["image"]]
        if r["m"] is not None and e["gold_rendered"] and e["pred_rendered"]:
            assert (r["m"], r["mws"]) == (float(e["match"]), float(e["match_ws"])), r["image"]
            checked += 1
    assert checked >= N - 3


def test_missing_prediction_is_listed(report, run_file):
    dropped = (run_file.parent / "dropped").read_text()
    text = report.read_text(encoding="utf-8")
    assert "1 gold image(s) have no prediction" in text and dropped in text
    row = next(r for r in _sample_data(text) if r["image"] == dropped)
    assert row["ps"] == "missing" and row["pred"] is None


def test_image_folder_mode(run_file, tmp_path):
    info = build_report(read_run(run_file), tmp_path / "r.html", images=FolderImages(PAIRS / "gold", PAIRS / "pred"), embed=False)
    assert info.image_dir == tmp_path / "r_files" and info.pictures > 0
    rows = _sample_data((tmp_path / "r.html").read_text(encoding="utf-8"))
    srcs = [v for r in rows for k, v in r["img"].items() if len(k) == 1]
    assert len(srcs) == info.pictures and all((tmp_path / s).is_file() for s in srcs)


def test_render_failures_show_tex_message(run_file, tmp_path):
    run = read_run(run_file)
    run.samples[0]["gold_render"] = {"status": "error", "message": "! Undefined control sequence.\nl.7 \\foo"}
    run.samples[1]["pred_render"] = {"status": "timeout", "message": "pdflatex ran past 10 s"}
    build_report(run, tmp_path / "r.html", images=None)
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    gold = text.split('id="gold-failures"')[1].split("</table>")[0]
    assert "Undefined control sequence." in gold and run.samples[0]["image"] in gold
    pred = text.split('id="prediction-failures"')[1].split("</table>")[0]
    assert "timeout" in pred and "pdflatex ran past 10 s" in pred


def test_diff_picture_marks_the_columns_that_break_match():
    from markupeval.images import compare_images
    from markupeval.images.diff import BOTH, GOLD_ONLY

    h = 10
    gold = np.full((h, 30), 255, np.uint8)
    gold[1:9, 2:8] = 0  # a 6-column block (8 ink pixels a column) the prediction lacks
    gold[1:9, 20:24] = 0
    pred = np.full((h, 30), 255, np.uint8)
    pred[1:9, 20:24] = 0
    pair = compare_images(gold, pred, keep_opcodes=True)
    assert not pair.match
    pic = diff_picture(gold, pred, pair.opcodes, mark_breaks=True)
    assert tuple(pic[2, 21]) == BOTH and tuple(pic[2, 3]) == GOLD_ONLY
    marked = np.where((pic[h + 2 :] == MARK).all(axis=2).any(axis=0))[0]
    # The mark covers exactly the missing block, nothing of what both share.
    assert marked.tolist() == list(range(2, 8))


def test_plot_rates_per_length_bucket():
    # Lengths 3, 5 -> bucket 0; 12 -> bucket 1; 400 -> the open last bucket; None is not counted.
    got = rates([3, 5, 12, 400, 7], [1.0, 0.0, 1.0, 0.0, None])
    assert got == {0: (0.5, 2), 1: (1.0, 1), 15: (0.0, 1)}


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["report", str(tmp_path / "absent.json"), "--out", str(tmp_path / "r.html")]) == 2
    assert "absent.json" in capsys.readouterr().err
    run = tmp_path / "run.json"
    run.write_text('{"metrics": {}, "samples": []}')
    assert main(["report", str(run), "--out", str(tmp_path / "r.html"), "--gold-images", str(tmp_path)]) == 2
    assert "go together" in capsys.readouterr().err


# --------------------------------------------------------------------------- real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (tests/install_browser.sh installs Debian's chromium)"
)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args],
        capture_output=True, text=True, timeout=90,
    )


class _Dom(HTMLParser):
    """Rows of the per-sample table, images and the body's data attributes, from a DOM dump."""

    def __init__(self):
        super().__init__()
        self.body: dict[str, str] = {}
        self.rows: list[dict[str, str]] = []
        self.images = 0
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = {k: v or "" for k, v in a.items()}
        if tag == "tbody" and a.get("id") == "sample-body":
            self._in_body = True
        if self._in_body and tag == "tr":
            self.rows.append({k: v or "" for k, v in a.items()})
        if self._in_body and tag == "img":
            self.images += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False


def _dom(report: Path, fragment: str, profile: Path) -> _Dom:
    proc = _chromium(["--dump-dom", report.as_uri() + "#" + fragment], profile)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    assert dom.body.get("data-ready") == "1", "the report's script did not run"
    return dom


@needs_chromium
@pytest.mark.slow
def test_report_in_headless_chromium(report, tmp_path):
    profile = tmp_path / "profile"  # a fresh profile: no state from other runs
    shown = _dom(report, "sort=len&dir=desc", profile)
    lengths = [int(r["data-len"]) for r in shown.rows]
    assert len(lengths) == N and lengths == sorted(lengths, reverse=True)
    assert shown.body["data-sorted-by"] == "len:desc"
    # Every picture on the page decoded (the load event fired for each).
    assert shown.images >= 3 * (N - 2) and int(shown.body.get("data-images-loaded", 0)) == shown.images

    ascending = _dom(report, "sort=len&dir=asc", profile)
    assert [int(r["data-len"]) for r in ascending.rows] == sorted(lengths)

    mismatches = _dom(report, "filter=mismatch", profile)
    assert 0 < len(mismatches.rows) < N and all(r["class"] == "bad" for r in mismatches.rows)

    shot = tmp_path / "report.png"
    proc = _chromium(["--window-size=1400,1800", "--hide-scrollbars", f"--screenshot={shot}",
                      report.as_uri() + "#sort=len&dir=desc"], profile)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[:2] == (1800, 1400)
    # Not a blank page: text, table rules, the plot's coloured lines and the renders' ink are drawn.
    assert (pixels.min(axis=2) < 128).mean() > 0.01
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 50  # the Match line of the plot (and gold-only ink of the diffs)
