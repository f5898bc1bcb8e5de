"""The reference data recipe: the one documented training set every measured baseline row uses.

Offline, the IM2LATEX-100K holdings give 2,985 usable training formulas and 8,445 validation
formulas (``markupeval data build --holdings``). Validation is far larger than training here, so
the recipe moves most of it into training and keeps a **fixed slice of 500 validation images** for
model selection. The slice is listed in the package (``reference_holdout.lst``), so every run, on
every machine, selects its checkpoint on the same images. Synthetic formulas
(:mod:`markupeval.data.synth`) may be added; they are fitted on the recipe's training formulas
only, never on the slice and never on test. The test split is the full, untouched test set. The
share to add was measured on the slice by ``baselines/synthetic_share.sh``
(``leaderboard/ablations/synthetic-share/RECIPE.md``): 48 %, all of ``--synthetic 12000``'s kept
formulas, decoded best, on a weak margin.

Layout written under ``OUT`` (each a dataset directory the reader and the baselines read):

```
OUT/available/      the holdings built as they are (data build), reused when present
OUT/real/           train = train + validation minus the slice; validate = the slice; test = test
OUT/synth-<N>/      N synthetic candidates kept if they render (train only), when N > 0
OUT/recipe.json     what was built, with counts and the command's settings
```

``real/`` links the available set's images instead of copying them, and its vocabulary is rebuilt
from its own training formulas (tokens seen at least twice, as the paper built every vocabulary).
"""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from markupeval.data.lists import ListEntry, read_formulas, read_split_list, write_filter_list, write_formulas
from markupeval.data.reader import FORMULAS_FILE, IMAGES_DIR, MANIFEST_FILE, VOCAB_FILE, list_file
from markupeval.data.vocab import build_vocabulary, write_vocabulary
from markupeval.errors import InputError

log = logging.getLogger("markupeval")

HOLDOUT_SIZE = 500
HOLDOUT_SEED = 2017
HOLDOUT_RESOURCE = "reference_holdout.lst"


@dataclass(frozen=True)
class RecipeConfig:
    """Every setting of the recipe; ``recipe.json`` records it."""

    synthetic: int = 0            # synthetic candidates to sample (0: real data only)
    synthetic_seed: int = 0
    holdout: str = HOLDOUT_RESOURCE  # image names of the model-selection slice (package resource or path)


@dataclass
class RecipeData:
    """The directories a training run reads, in the order to pass them to ``--data``."""

    root: Path
    real: Path
    synthetic: Path | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def train_dirs(self) -> list[Path]:
        return [self.real] + ([self.synthetic] if self.synthetic else [])


def choose_holdout(validate_names: Sequence[str], n: int = HOLDOUT_SIZE, seed: int = HOLDOUT_SEED) -> list[str]:
    """A seeded sample of ``n`` validation image names, in list order (how the shipped slice was made)."""
    if n > len(validate_names):
        raise ValueError(f"cannot hold out {n} of {len(validate_names)} validation images")
    picked = set(random.Random(seed).sample(list(validate_names), n))
    return [name for name in validate_names if name in picked]


def read_holdout(spec: str = HOLDOUT_RESOURCE) -> list[str]:
    """The slice's image names: the packaged list by default, or a file of one name per line."""
    if spec == HOLDOUT_RESOURCE:
        text = resources.files("markupeval.data").joinpath(HOLDOUT_RESOURCE).read_text(encoding="utf-8")
        where = Path(HOLDOUT_RESOURCE)
    else:
        where = Path(spec)
        if not where.is_file():
            raise InputError("holdout list not found", where)
        text = where.read_text(encoding="utf-8")
    names = [line.strip() for line in text.split("\n") if line.strip() and not line.startswith("#")]
    if len(set(names)) != len(names):
        raise InputError("holdout list names an image twice", where)
    return names


def split_real(available: Path, out: Path, holdout: Sequence[str]) -> dict[str, int]:
    """Write ``out`` from the built available set: validation minus ``holdout`` joins training."""
    available, out = Path(available), Path(out)
    formulas = read_formulas(available / FORMULAS_FILE)
    lists = {s: read_split_list(list_file(available, s), n_formulas=len(formulas))
             for s in ("train", "validate", "test")}
    val_names = {e.name for e in lists["validate"]}
    missing = [n for n in holdout if n.removesuffix(".png") not in val_names]
    if missing:
        raise InputError(f"{len(missing)} holdout images are not in the validation list (first: {missing[0]})",
                         list_file(available, "validate"))
    held = {n.removesuffix(".png") for n in holdout}
    train = list(lists["train"]) + [e for e in lists["validate"] if e.name not in held]
    val = [e for e in lists["validate"] if e.name in held]
    out.mkdir(parents=True, exist_ok=True)
    write_formulas(out / FORMULAS_FILE, formulas)
    for split, entries in (("train", train), ("validate", val), ("test", lists["test"])):
        write_filter_list(list_file(out, split), entries)
    write_vocabulary(out / VOCAB_FILE, build_vocabulary(formulas[e.formula_idx] for e in train))
    link = out / IMAGES_DIR
    if link.is_symlink() or link.exists():
        if link.is_symlink():
            link.unlink()
    if not link.exists():
        # Relative, so the pair of directories can be moved together.
        os.symlink(os.path.relpath(available / IMAGES_DIR, out), link)
    counts = {"train": len(train), "validate": len(val), "test": len(lists["test"]),
              "train_from_validation": len(train) - len(lists["train"])}
    (out / MANIFEST_FILE).write_text(json.dumps({"recipe": "reference", "from": str(available), "counts": counts},
                                                indent=2) + "\n", encoding="utf-8")
    return counts


def training_formulas(real: Path) -> list[str]:
    """The formulas of the recipe's training split: what the synthetic generator may learn from."""
    formulas = read_formulas(Path(real) / FORMULAS_FILE)
    return [formulas[e.formula_idx] for e in read_split_list(list_file(real, "train"), n_formulas=len(formulas))]


def build_reference(
    out: Path,
    config: RecipeConfig,
    build_available: Callable[[Path], None],
    build_synthetic: Callable[[list[str], Path], None],
) -> RecipeData:
    """Build (or reuse) every directory of the recipe under ``out``.

    ``build_available(dir)`` builds the holdings into ``dir``; ``build_synthetic(train_formulas,
    dir)`` samples and renders the synthetic set. Both are steps the caller provides (the CLI runs
    them through the renderer with its progress bar); a directory whose manifest exists is reused,
    so a second call only checks.
    """
    out = Path(out)
    available = out / "available"
    if not (available / MANIFEST_FILE).is_file():
        build_available(available)
    real = out / "real"
    counts = split_real(available, real, read_holdout(config.holdout))
    synthetic = None
    if config.synthetic > 0:
        synthetic = out / f"synth-{config.synthetic}-seed{config.synthetic_seed}"
        if not (synthetic / MANIFEST_FILE).is_file():
            build_synthetic(training_formulas(real), synthetic)
        counts["synthetic"] = len(read_split_list(list_file(synthetic, "train")))
    data = RecipeData(out, real, synthetic, counts)
    (out / "recipe.json").write_text(json.dumps({
        "config": asdict(config), "counts": counts,
        "train_dirs": [str(p.relative_to(out)) for p in data.train_dirs]}, indent=2) + "\n", encoding="utf-8")
    return data


def build_reference_from_holdings(
    holdings: Path,
    out: Path,
    config: RecipeConfig = RecipeConfig(),
    *,
    workers: int | None = None,
    cache_dir: Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> RecipeData:
    """The whole recipe from the offline holdings: the available set (``data build --holdings``,
    the evaluation template, as the normalized gold needs amsmath), the split, and the synthetic
    set rendered the same way (strict: a candidate TeX complains about is not kept)."""
    from markupeval.data.build import build, build_config, inputs_from_holdings
    from markupeval.data.synth import synthesize

    options = {"workers": workers, "cache_dir": cache_dir}

    def available(dest: Path) -> None:
        build(inputs_from_holdings(Path(holdings)), dest, build_config("im2markup", **options),
              on_progress=on_progress)

    def synthetic(train: list[str], dest: Path) -> None:
        synthesize(train, dest, config.synthetic, build_config("im2markup", strict=True, **options),
                   seed=config.synthetic_seed, description={"recipe": "reference"}, on_progress=on_progress)

    return build_reference(out, config, available, synthetic)
