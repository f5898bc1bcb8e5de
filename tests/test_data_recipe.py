"""The reference data recipe: a fixed validation slice, the rest of validation in training, reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from markupeval.data import Im2LatexDataset
from markupeval.data.recipe import (HOLDOUT_SIZE, RecipeConfig, build_reference, choose_holdout, read_holdout,
                                    split_real)
from markupeval.errors import InputError
from markupeval.textfiles import read_split_list


def test_the_shipped_slice_is_500_distinct_official_validation_images(shared_dir: Path) -> None:
    names = read_holdout()
    assert len(names) == HOLDOUT_SIZE == len(set(names))
    official = {e.name for e in read_split_list(shared_dir / "data/im2latex100k/validate_filter.lst")}
    assert {n.removesuffix(".png") for n in names} <= official


def test_choose_holdout_depends_on_the_seed_only() -> None:
    names = [f"v{i}.png" for i in range(50)]
    a, b = choose_holdout(names, 10, seed=3), choose_holdout(list(names), 10, seed=3)
    assert a == b and len(a) == 10 and a == [n for n in names if n in set(a)]  # list order kept
    assert choose_holdout(names, 10, seed=4) != a


@pytest.fixture(scope="module")
def available(build_formula_dataset) -> Path:
    return build_formula_dataset("recipe", ["a + b", "a - b", "x = 1", "x + 1", "y = a", "b + y"])


def test_split_moves_all_validation_but_the_slice_into_training(available: Path, tmp_path: Path) -> None:
    counts = split_real(available, tmp_path / "real", ["validate001.png", "validate004.png"])
    assert counts == {"train": 10, "validate": 2, "test": 6, "train_from_validation": 4}
    train = Im2LatexDataset(tmp_path / "real", "train")
    val = Im2LatexDataset(tmp_path / "real", "validate")
    assert [it.name for it in val.items] == ["validate001", "validate004"]
    assert {it.name for it in train.items} & {"validate001", "validate004"} == set()
    assert train.load_image("validate000").shape == Im2LatexDataset(available, "validate").load_image("validate000").shape
    # The vocabulary is the recipe's own training tokens seen twice or more.
    # ("-" is in one training formula only: "a - b" of validate001 is held out.)
    assert set(train.vocab.tokens) == {"a", "b", "+", "x", "=", "1", "y"}


def test_a_slice_image_outside_validation_is_an_input_error(available: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not in the validation list"):
        split_real(available, tmp_path / "real", ["train000.png"])


def test_a_second_build_reuses_what_is_built(available: Path, tmp_path: Path) -> None:
    import shutil

    calls = []
    holdout = tmp_path / "slice.lst"
    holdout.write_text("validate002.png\n", encoding="utf-8")

    def build_available(dest: Path) -> None:
        calls.append("available")
        shutil.copytree(available, dest)

    def build_synthetic(train: list[str], dest: Path) -> None:
        calls.append(("synthetic", len(train)))
        shutil.copytree(available, dest)

    config = RecipeConfig(synthetic=5, holdout=str(holdout))
    first = build_reference(tmp_path / "ref", config, build_available, build_synthetic)
    second = build_reference(tmp_path / "ref", config, build_available, build_synthetic)
    assert calls == ["available", ("synthetic", 11)]  # the synthetic model sees training formulas only
    assert first.train_dirs == second.train_dirs == [tmp_path / "ref/real", tmp_path / "ref/synth-5-seed0"]
    assert (tmp_path / "ref/recipe.json").is_file()
