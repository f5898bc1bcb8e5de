"""`markupeval score`: formats, alignment, policies and error paths, through the API and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from markupeval.cli import main
from markupeval.errors import InputError
from markupeval.formats import detect_format, read_gold, read_predictions
from markupeval.scoring import ScoreConfig, score_files

TEXT = ScoreConfig(images=False)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def gold(tmp_path):
    g = write(tmp_path / "gold.txt", "a b c\n\nx ^ { 2 }\n")
    n = write(tmp_path / "names.txt", "i0.png\ni1.png\ni2.png\n")
    return g, n


def test_results_format_against_gold_file(tmp_path, gold):
    g, n = gold
    p = write(tmp_path / "results.txt", "i0.png\ta b c\ta b c\t-1\t-1\ni2.png\tx ^ { <unk> }\tx ^ { 3 }\t-1\t-1\n")
    run = score_files(p, g, names=n, config=TEXT)
    assert run.counts["gold"] == 3 and run.counts["missing"] == 1 and run.counts["empty_gold"] == 1
    # exact match counts every gold item; the missing one (empty gold) is a miss
    assert run.scores["exact_match"].parts == {"matched": 1, "counted": 3}
    # compatible edit distance: present lines only, against the results file's own gold column
    assert run.scores["edit_distance"].parts == {"distance": 1, "max_len": 3 + 5}
    assert "ed_ref:results-column" in str(run.signature)


def test_strict_edit_distance_uses_gold_file_and_all_items(tmp_path, gold):
    g, n = gold
    p = write(tmp_path / "results.txt", "i0.png\ta b c\ta b c\t-1\t-1\ni2.png\tx ^ { <unk> }\tx ^ { 3 }\t-1\t-1\n")
    run = score_files(p, g, names=n, config=ScoreConfig(images=False, strict_edit_distance=True))
    # i1: gold "" vs missing "" -> 0 / 1; i2: one substitution against the real gold
    assert run.scores["edit_distance"].parts == {"distance": 1, "max_len": 3 + 1 + 5}
    assert "custom:strict_edit_distance" in str(run.signature)


def test_all_formats_give_the_same_scores(tmp_path, gold):
    g, n = gold
    preds = {"i0.png": "a b c", "i1.png": "", "i2.png": "x ^ { 3 }"}
    files = {
        "lines": write(tmp_path / "p.txt", "a b c\n\nx ^ { 3 }\n"),
        "jsonl": write(tmp_path / "p.jsonl", "".join(json.dumps({"image": k, "prediction": v}) + "\n" for k, v in preds.items())),
        "csv": write(tmp_path / "p.csv", "id,prediction\n" + "".join(f'{k},"{v}"\n' for k, v in preds.items())),
        "results": write(tmp_path / "r.txt", "".join(f"{k}\t{v}\t{v}\t0\t0\n" for k, v in preds.items())),
    }
    values = set()
    for fmt, path in files.items():
        assert detect_format(path) == fmt
        run = score_files(path, g, names=n, config=ScoreConfig(images=False, strict_edit_distance=True))
        values.add((round(run.metrics["bleu"], 6), run.metrics["exact_match"], run.metrics["edit_distance"]))
    assert len(values) == 1


def test_split_lists_both_styles(tmp_path):
    formulas = write(tmp_path / "formulas.lst", "f zero\nf one\nf two\n")
    filt = write(tmp_path / "test_filter.lst", "b.png 2\na.png 0\n")
    raw = write(tmp_path / "test.lst", "2 b basic\n0 a basic\n")
    for split in (filt, raw):
        gs = read_gold(formulas, split=split)
        assert [(g.image.removesuffix(".png"), g.formula) for g in gs.items] == [("b", "f two"), ("a", "f zero")]
    p = write(tmp_path / "p.jsonl", '{"image": "a.png", "prediction": "f zero"}\n')
    run = score_files(p, formulas, split=raw, config=TEXT)
    assert run.counts == {"gold": 2, "predictions": 1, "scored": 1, "missing": 1, "duplicates": 0, "extra": 0, "empty_gold": 0, "prediction_failed": 0}


def test_split_on_newline_only(tmp_path):
    formulas = write(tmp_path / "f.lst", "a \u2028 b\nc\x85d\r\n")
    gs = read_gold(formulas)
    assert [g.formula for g in gs.items] == ["a \u2028 b", "c\x85d"]


@pytest.mark.parametrize(
    "content, fmt, message, line",
    [
        ("i0.png\tgold\tpred\t0\n", "results", "5 tab-separated fields", 1),
        ('{"image": "i0.png", "prediction": "a"}\n{"image": "i0.png", "prediction": "b"}\n', "jsonl", "given twice", 2),
        ('{"image": "i0.png"}\n', "jsonl", "missing 'prediction'", 1),
        ('{"image": "i0.png", "prediction": "a"}\nnot json\n', "jsonl", "invalid JSON", 2),
        ("id,prediction\ni0.png,a,b\n", "csv", "more fields", 2),
    ],
)
def test_bad_prediction_files_name_file_and_line(tmp_path, content, fmt, message, line):
    p = write(tmp_path / "bad", content)
    with pytest.raises(InputError) as exc:
        read_predictions(p, fmt, line_names=["i0.png", "i1.png"] if fmt == "lines" else None)
    assert message in str(exc.value) and exc.value.line == line and exc.value.path == p


def test_duplicate_policies(tmp_path, gold):
    g, n = gold
    p = write(tmp_path / "p.jsonl", '{"image": "i0.png", "prediction": "x"}\n{"image": "i0.png", "prediction": "a b c"}\n')
    last = score_files(p, g, names=n, duplicates="last", config=TEXT)
    first = score_files(p, g, names=n, duplicates="first", config=TEXT)
    assert last.scores["exact_match"].parts["matched"] == 1 and first.scores["exact_match"].parts["matched"] == 0
    assert last.counts["duplicates"] == 1 and any("duplicate" in note for note in last.notes)


def test_extra_predictions_error_or_ignored(tmp_path, gold):
    g, n = gold
    p = write(tmp_path / "p.jsonl", '{"image": "i0.png", "prediction": "a b c"}\n{"image": "zz.png", "prediction": "q"}\n')
    with pytest.raises(InputError, match="not in the gold") as exc:
        score_files(p, g, names=n, config=TEXT)
    assert exc.value.line == 2
    run = score_files(p, g, names=n, config=ScoreConfig(images=False, extra="ignore"))
    assert run.counts["extra"] == 1


def test_length_mismatches_are_reported(tmp_path, gold):
    g, _ = gold
    short_names = write(tmp_path / "n.txt", "i0.png\n")
    with pytest.raises(InputError, match="1 names but"):
        read_gold(g, names=short_names)
    p = write(tmp_path / "p.txt", "one line\n")
    with pytest.raises(InputError, match="1 prediction lines but the gold has 3"):
        score_files(p, g, names=tmp_path / "names.txt", fmt="lines", config=TEXT)


def test_empty_and_ambiguous_files(tmp_path, gold):
    g, n = gold
    with pytest.raises(InputError, match="empty"):
        detect_format(write(tmp_path / "empty.txt", ""))
    with pytest.raises(InputError, match="gold file is empty"):
        read_gold(write(tmp_path / "empty_gold.txt", ""))
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format(write(tmp_path / "mixed.txt", "a\tb\nc\n"))


def test_crlf_files_are_read_like_lf(tmp_path, gold):
    g, n = gold
    lf = score_files(write(tmp_path / "lf.txt", "a b c\n\nx\n"), g, names=n, config=TEXT)
    crlf = score_files(write(tmp_path / "crlf.txt", "a b c\r\n\r\nx\r\n"), g, names=n, config=TEXT)
    assert lf.metrics == crlf.metrics


def test_cli_json_and_per_sample(tmp_path, gold, capsys):
    g, n = gold
    p = write(tmp_path / "p.txt", "a b c\n\nx\n")
    out, per = tmp_path / "run.json", tmp_path / "per.csv"
    assert main(["score", str(p), "--gold", str(g), "--names", str(n), "--no-images", "--json", str(out), "--per-sample", str(per)]) == 0
    data = json.loads(out.read_text())
    assert set(data["metrics"]) == {"bleu", "edit_distance", "exact_match"}
    assert data["counts"]["gold"] == 3 and len(data["samples"]) == 3 and data["signature"].startswith("mode:compatible")
    assert len(per.read_text().strip().split("\n")) == 4
    assert "BLEU" in capsys.readouterr().out


def test_cli_user_error_is_a_message_not_a_traceback(tmp_path, capsys):
    code = main(["score", str(tmp_path / "nope.txt"), "--no-images"])
    assert code == 2
    err = capsys.readouterr().err
    assert "file not found" in err and "Traceback" not in err


def test_bundled_sample_scores(capsys, tmp_path):
    """`markupeval score` with no arguments: its numbers, each recomputed here independently
    (sacrebleu for BLEU, python-Levenshtein over tokens for the edit distance, plain string
    comparison for exact match) from the bundled files."""
    import json
    from importlib import resources

    import Levenshtein
    import sacrebleu

    out_json = tmp_path / "run.json"
    assert main(["score", "--no-images", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "bundled-sample" in out and "BLEU" in out and "88.88" in out
    run = json.loads(out_json.read_text())
    assert run["counts"] == {"gold": 300, "predictions": 300, "scored": 300, "missing": 0, "duplicates": 0,
                             "extra": 0, "empty_gold": 0, "prediction_failed": 0}

    sample = resources.files("markupeval") / "sample"
    gold = (sample / "gold.txt").read_text(encoding="utf-8").split("\n")[:300]
    names = (sample / "names.txt").read_text(encoding="utf-8").split("\n")[:300]
    rows = [line.split("\t") for line in (sample / "predictions.txt").read_text(encoding="utf-8").split("\n") if line.strip()]
    by_name = {r[0]: r[2] for r in rows}
    hyps = [by_name.get(n, "") for n in names]
    bleu = sacrebleu.corpus_bleu(hyps, [gold], tokenize="none", force=True, smooth_method="none")
    assert run["metrics"]["bleu"] == pytest.approx(bleu.score, abs=1e-9)
    assert round(run["metrics"]["bleu"], 2) == 88.88  # as measured: 88.87981...

    def token_distance(a: list[str], b: list[str]) -> int:
        vocab: dict[str, int] = {}
        return Levenshtein.distance("".join(chr(0x100 + vocab.setdefault(t, len(vocab))) for t in a),
                                    "".join(chr(0x100 + vocab.setdefault(t, len(vocab))) for t in b))

    pairs = [(r[1].strip().split(" "), r[2].strip().split(" ")) for r in rows]  # against the results' own gold
    distance = sum(token_distance(g, p) for g, p in pairs)
    longest = sum(max(len(g), len(p)) for g, p in pairs)
    assert (distance, longest) == (1750, 19803)
    assert run["metrics"]["edit_distance"] == pytest.approx(1 - distance / longest, abs=1e-12)
    matches = sum(" ".join(h.split()) == " ".join(g.split()) for h, g in zip(hyps, gold))
    assert matches == 136 and run["metrics"]["exact_match"] == pytest.approx(matches / 300)


def test_normalize_predictions_is_a_named_deviation(tmp_path, gold):
    g, n = gold
    p = write(tmp_path / "p.jsonl", '{"image": "i2.png", "prediction": "x^2"}\n')
    raw = score_files(p, g, names=n, config=TEXT)
    norm = score_files(p, g, names=n, config=ScoreConfig(images=False, normalize_predictions=True))
    assert raw.scores["exact_match"].parts["matched"] == 0
    assert norm.scores["exact_match"].parts["matched"] == 1  # "x^2" normalizes to "x ^ { 2 }"
    sig = norm.signature.as_dict()
    assert sig["mode"] == "custom:normalize_predictions" and sig["pred_norm"].startswith("im2latex-katex")
    assert str(norm.signature).count("version:") == 1
    assert any("normalized" in note for note in norm.notes)


def test_one_reader_one_encoding_policy_for_score_and_data_build(tmp_path, caplog):
    # A Latin-1 formula file reads the same in `score --gold --split` and in the dataset pipeline
    # (both through markupeval.textfiles): "café", with a warning naming file and line.
    from markupeval.data.lists import read_formulas, read_split_list

    gold = write(tmp_path / "f.lst", "x\n\\mbox{caf\xe9}\n".encode("latin-1"))
    split = write(tmp_path / "t.lst", "a.png 0\nb.png 1\n")
    with caplog.at_level("WARNING", logger="markupeval"):
        gs = read_gold(gold, split=split)
    assert [g.formula for g in gs.items] == read_formulas(gold) == ["x", "\\mbox{café}"]
    assert f"{gold}:2: not valid UTF-8" in caplog.text
    # Duplicates: the scorer refuses an image listed twice, the dataset reader keeps both entries.
    dup = write(tmp_path / "d.lst", "a.png 0\na.png 1\n")
    with pytest.raises(InputError, match="listed twice") as exc:
        read_gold(gold, split=dup)
    assert exc.value.line == 2
    assert [e.formula_idx for e in read_split_list(dup)] == [0, 1]
