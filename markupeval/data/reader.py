"""Dataset reader for the processed IM2LATEX-100K layout; every baseline reads data through it.

Contract (the layout ``markupeval data build`` and ``markupeval data synth`` write, which is
the harvardnlp processed release's layout; see ``docs/ARCHITECTURE.md``)::

    DIR/images_processed/<name>.png        grayscale formula image, already bucket-padded
    DIR/formulas.norm.lst                  normalized formulas, one per line (split on "\\n" only)
    DIR/{train,validate,test}_filter.lst   "<name>.png <formula_idx>" (0-based line of the formula)
    DIR/latex_vocab.txt                    one token per line
    DIR/manifest.json                      counts and settings (optional for reading)

API:

* ``ds = Im2LatexDataset(DIR, "train")`` (or several dirs, e.g. ``[real, synthetic]``, read as one
  set; image names must be unique across them).
* ``ds.items``: list of :class:`Item` ``(name, tokens)``, in list-file order; ``tokens`` is the
  formula split on single spaces with empty strings removed (``formula.split()``). An empty formula
  (the 71 test formulas whose normalization failed) gives ``()``.
* ``ds.load_image(name) -> np.ndarray``: 2-D ``uint8``, 255 = white, shape ``(height, width)``.
* ``ds.image_size(name) -> (width, height)`` from the PNG header, without decoding.
* ``ds.bucket_batches(batch_size, shuffle=True, seed=0)``: yields lists of :class:`Item` whose
  images all have the same size, so a batch stacks without padding. Every item appears exactly
  once per pass; the last batch of a bucket may be smaller (``drop_last=False``).
* ``ds.vocab`` (:class:`~markupeval.data.vocab.Vocabulary`, ids: 0 ``<pad>``, 1 ``<s>``,
  2 ``</s>``, 3 ``<unk>``, then ``latex_vocab.txt`` in file order) — from the first dir, or
  ``vocab_path``.
* ``ds.torch_dataset()``: a ``torch.utils.data.Dataset`` of ``(image float32 [1,H,W] in 0..1,
  token ids int64 with <s> ... </s>)``; ``torch`` is imported only when this is called.

Missing images or malformed lists raise :class:`~markupeval.errors.InputError` naming the file and
line when the dataset is opened, never later in a training loop.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
from PIL import Image

from markupeval.data.batches import bucket_batches
from markupeval.data.lists import read_formulas, read_split_list
from markupeval.data.vocab import Vocabulary
from markupeval.errors import InputError
from markupeval.images.io import load_grayscale

SPLITS = ("train", "validate", "test")
IMAGES_DIR = "images_processed"
FORMULAS_FILE = "formulas.norm.lst"
VOCAB_FILE = "latex_vocab.txt"
MANIFEST_FILE = "manifest.json"


def list_file(root: Path, split: str) -> Path:
    return Path(root) / f"{split}_filter.lst"


class Item(NamedTuple):
    name: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    root: Path
    formula_idx: int


class Im2LatexDataset:
    """One split of one or more dataset directories. See the module docstring for the contract."""

    def __init__(
        self,
        roots: Path | str | Sequence[Path | str],
        split: str,
        vocab_path: Path | None = None,
        check_images: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if isinstance(roots, (str, Path)):
            roots = [roots]
        self.roots = [Path(r) for r in roots]
        if not self.roots:
            raise ValueError("no dataset directory given")
        self.split = split
        self.items: list[Item] = []
        self._source: dict[str, _Source] = {}
        for root in self.roots:
            self._read_root(root, check_images)
        self._vocab_path = Path(vocab_path) if vocab_path else self.roots[0] / VOCAB_FILE
        self._vocab: Vocabulary | None = None
        self._sizes: dict[str, tuple[int, int]] = {}

    def _read_root(self, root: Path, check_images: bool) -> None:
        lst = list_file(root, self.split)
        if not lst.is_file():
            raise InputError(f"no {self.split} list in dataset directory", lst)
        formulas = read_formulas(root / FORMULAS_FILE)
        entries = read_split_list(lst, n_formulas=len(formulas))
        for entry in entries:
            lineno = entry.line
            prior = self._source.get(entry.name)
            if prior is not None and prior.root != root:
                raise InputError(f"image {entry.name}.png is also in {prior.root}", lst, lineno)
            if prior is not None:
                # Listed twice in one list (the official release does this 13 times): one image,
                # two formula lines, both kept as items.
                self.items.append(Item(entry.name, tuple(formulas[entry.formula_idx].split())))
                continue
            if check_images and not (root / IMAGES_DIR / f"{entry.name}.png").is_file():
                raise InputError(f"image {IMAGES_DIR}/{entry.name}.png does not exist", lst, lineno)
            self._source[entry.name] = _Source(root, entry.formula_idx)
            self.items.append(Item(entry.name, tuple(formulas[entry.formula_idx].split())))

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Im2LatexDataset({[str(r) for r in self.roots]}, {self.split!r}, {len(self)} items)"

    @property
    def vocab(self) -> Vocabulary:
        if self._vocab is None:
            self._vocab = Vocabulary.load(self._vocab_path)
        return self._vocab

    def image_path(self, name: str) -> Path:
        return self._source[name].root / IMAGES_DIR / f"{name}.png"

    def formula_index(self, name: str) -> int:
        return self._source[name].formula_idx

    def load_image(self, name: str) -> np.ndarray:
        return load_grayscale(self.image_path(name))

    def image_size(self, name: str) -> tuple[int, int]:
        size = self._sizes.get(name)
        if size is None:
            path = self.image_path(name)
            try:
                with Image.open(path) as im:  # reads the header only
                    size = (int(im.size[0]), int(im.size[1]))
            except OSError as exc:
                raise InputError(f"cannot read image: {exc}", path) from None
            self._sizes[name] = size
        return size

    def buckets(self) -> dict[tuple[int, int], list[Item]]:
        """Items grouped by image size ``(width, height)``, each group in list order."""
        groups: dict[tuple[int, int], list[Item]] = defaultdict(list)
        for item in self.items:
            groups[self.image_size(item.name)].append(item)
        return dict(groups)

    def bucket_batches(
        self, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> Iterator[list[Item]]:
        """Batches of same-size items. With ``shuffle``, the order inside each bucket and the order
        of the batches are permuted by ``random.Random(seed)``: same seed, same batches."""
        sizes = [self.image_size(item.name) for item in self.items]
        batches = [[self.items[i] for i in batch]
                   for batch in bucket_batches(sizes, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)]
        yield from batches

    def torch_dataset(self, max_tokens: int | None = None) -> Any:
        """A ``torch.utils.data.Dataset`` over this split (imports torch only here)."""
        from markupeval.data._torch import TorchIm2Latex

        return TorchIm2Latex(self, max_tokens=max_tokens)
