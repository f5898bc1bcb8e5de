"""The dataset reader contract the baselines rely on: items, images, same-size batches, vocabulary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from markupeval.data.lists import read_formulas, read_split_list
from markupeval.data.reader import Im2LatexDataset
from markupeval.data.vocab import Vocabulary, build_vocabulary
from markupeval.errors import InputError


def _make_set(root: Path, names_sizes: list[tuple[str, tuple[int, int], int]], formulas: list[str]) -> Path:
    (root / "images_processed").mkdir(parents=True)
    (root / "formulas.norm.lst").write_text("".join(f + "\n" for f in formulas))
    lines = []
    for name, (w, h), idx in names_sizes:
        img = np.full((h, w), 255, np.uint8)
        img[h // 2, 2 : w - 2] = 0
        Image.fromarray(img).save(root / "images_processed" / f"{name}.png")
        lines.append(f"{name}.png {idx}\n")
    (root / "train_filter.lst").write_text("".join(lines))
    (root / "latex_vocab.txt").write_text("x\n+\n1\n")
    return root


def test_items_images_and_buckets(tmp_path: Path) -> None:
    sizes = [("a", (128, 32), 0), ("b", (128, 32), 1), ("c", (160, 32), 2), ("d", (128, 32), 3), ("e", (160, 32), 0)]
    ds = Im2LatexDataset(_make_set(tmp_path, sizes, ["x + 1", "x", "", "1 + 1"]), "train")
    assert [i.name for i in ds.items] == ["a", "b", "c", "d", "e"]
    assert ds.items[0] == ("a", ("x", "+", "1"))
    assert ds.items[2].tokens == ()  # empty formula stays, as the test set's failed normalizations do
    img = ds.load_image("c")
    assert img.dtype == np.uint8 and img.shape == (32, 160)
    assert ds.image_size("c") == (160, 32)

    batches = list(ds.bucket_batches(2, shuffle=True, seed=3))
    seen = [it.name for b in batches for it in b]
    assert sorted(seen) == ["a", "b", "c", "d", "e"]  # every item exactly once
    for b in batches:
        assert len({ds.image_size(it.name) for it in b}) == 1 and len(b) <= 2
    assert [[i.name for i in b] for b in ds.bucket_batches(2, seed=3)] == [[i.name for i in b] for b in batches]
    assert sorted(len(b) for b in ds.bucket_batches(2, shuffle=False)) == [1, 2, 2]
    assert all(len(b) == 2 for b in ds.bucket_batches(2, drop_last=True))


def test_two_dirs_read_as_one_and_name_clash(tmp_path: Path) -> None:
    a = _make_set(tmp_path / "real", [("a", (128, 32), 0)], ["x"])
    b = _make_set(tmp_path / "syn", [("s1", (128, 32), 0)], ["1"])
    ds = Im2LatexDataset([a, b], "train")
    assert [i.name for i in ds.items] == ["a", "s1"] and ds.image_path("s1").parent.parent == b
    c = _make_set(tmp_path / "clash", [("a", (128, 32), 0)], ["1"])
    with pytest.raises(InputError, match="also in"):
        Im2LatexDataset([a, c], "train")


def test_missing_image_and_bad_index_name_the_line(tmp_path: Path) -> None:
    root = _make_set(tmp_path, [("a", (128, 32), 0)], ["x"])
    (root / "train_filter.lst").write_text("a.png 0\nzz.png 0\n")
    with pytest.raises(InputError) as e:
        Im2LatexDataset(root, "train")
    assert e.value.line == 2 and "zz.png" in str(e.value)
    (root / "train_filter.lst").write_text("a.png 0\na.png 7\n")
    with pytest.raises(InputError) as e:
        Im2LatexDataset(root, "train")
    assert e.value.line == 2 and "past the end" in str(e.value)


def test_vocabulary_ids_and_specials(tmp_path: Path) -> None:
    v = Vocabulary(["x", "+", "1"])
    assert [v.token(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert v.encode(["x", "?"], add_bos=True, add_eos=True) == [1, 4, 3, 2]
    assert v.decode([1, 4, 5, 2, 6]) == ["x", "+"]
    assert len(v) == 7


def test_vocabulary_rule_more_than_once() -> None:
    # generate_latex_vocab.py: whitespace tokens of the filtered training formulas, count > 1, sorted.
    formulas = ["a + b", "a  +\tc", " \\frac { a } { b } ", "c"]
    # a:3 +:2 b:2 c:2 {:2 }:2 are kept; \frac (once) is not. Python sorts "{" and "}" after letters.
    assert build_vocabulary(formulas) == ["+", "a", "b", "c", "{", "}"]


def test_formula_file_splits_on_newline_only(tmp_path: Path) -> None:
    p = tmp_path / "f.lst"
    p.write_bytes("a\u2028b\nc\r\n\nd".encode())
    assert read_formulas(p) == ["a\u2028b", "c", "", "d"]
    p.write_bytes(b"a\nb\n")
    assert read_formulas(p) == ["a", "b"]


def test_split_list_both_formats(tmp_path: Path) -> None:
    p = tmp_path / "l.lst"
    p.write_text("3 60ee748793 basic\n66667cee5b.png 2\n")
    assert [(e.name, e.formula_idx) for e in read_split_list(p)] == [("60ee748793", 3), ("66667cee5b", 2)]
    p.write_text("60ee748793 basic\n")
    with pytest.raises(InputError) as e:
        read_split_list(p)
    assert e.value.line == 1
