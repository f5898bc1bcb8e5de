"""Data glue between :mod:`markupeval.data` (the dataset reader) and the baselines' tensors.

The reader (``Im2LatexDataset``) owns the layout, the split lists, the vocabulary and error
reporting; this module only turns its items into in-memory images and bucketed tensor batches,
and reads a plain directory of images for prediction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from markupeval.data import Im2LatexDataset, Vocabulary, build_vocabulary
from markupeval.data.batches import bucket_batches as shared_bucket_batches
from markupeval.errors import InputError
from markupeval.images.io import load_grayscale

log = logging.getLogger("markupeval")


@dataclass
class Batch:
    images: torch.Tensor      # (B, 1, H, W) uint8, 255 = white; models normalise on their device
    targets: torch.Tensor     # (B, T) int64: <s> y_1 .. y_n </s> <pad>...
    lengths: torch.Tensor     # (B,) number of formula tokens n (without <s>, </s>)
    names: list[str]          # image file names ("7944775fc9.png")

    def to(self, device: torch.device) -> "Batch":
        nb = device.type == "cuda"  # asynchronous copies from pinned memory on CUDA
        return Batch(self.images.to(device, non_blocking=nb), self.targets.to(device, non_blocking=nb),
                     self.lengths.to(device, non_blocking=nb), self.names)

    def pin_memory(self) -> "Batch":
        return Batch(self.images.pin_memory(), self.targets.pin_memory(), self.lengths.pin_memory(), self.names)


def load_image(path: Path) -> np.ndarray:
    """A 2-D uint8 grayscale array; an unreadable file is an InputError naming it."""
    return load_grayscale(path)


def bucket_batches(sizes: Sequence[tuple[int, ...]], batch_size: int, shuffle: bool, seed: int = 0) -> list[list[int]]:
    """Index batches whose members share one image size (the reader's bucket rule, on indices).

    Same order as ``Im2LatexDataset.bucket_batches``: sizes sorted, shuffled inside each bucket and
    then across batches by ``random.Random(seed)``, so an epoch's order depends on (seed, epoch) only.
    """
    return shared_bucket_batches([tuple(size) for size in sizes], batch_size, shuffle=shuffle, seed=seed)


def collate(images: Sequence[np.ndarray], token_lists: Sequence[Sequence[str]], names: list[str],
            vocab: Vocabulary) -> Batch:
    """Stack images (a size mismatch, possible only outside a dataset, is padded white at the
    bottom/right, as the dataset's own bucket padding) and the ``<s> ... </s>`` targets."""
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    arr = np.full((len(images), 1, h, w), 255, dtype=np.uint8)
    for k, im in enumerate(images):
        arr[k, 0, : im.shape[0], : im.shape[1]] = im
    lengths = [len(t) for t in token_lists]
    tgt = torch.full((len(images), max(lengths, default=0) + 2), vocab.pad_id, dtype=torch.long)
    for k, toks in enumerate(token_lists):
        ids = vocab.encode(toks, add_bos=True, add_eos=True)
        tgt[k, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return Batch(torch.from_numpy(arr), tgt, torch.tensor(lengths, dtype=torch.long), names)


class BatchPlan(torch.utils.data.Sampler):
    """The batches of the current pass, replaceable between passes.

    A ``DataLoader`` with persistent workers keeps its sampler in the main process and sends the
    workers only indices, so swapping the plan for each epoch keeps the same workers alive.
    """

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class ImageSet(torch.utils.data.Dataset):
    """Images held in memory (decoded once) with their formulas, served as whole batches.

    One ``DataLoader`` per set, made on first use and kept: on CUDA its worker processes collate
    while the GPU trains and persist across epochs and validations (starting them costs seconds
    per pass); on CPU the loader runs in-process, so runs stay deterministic.
    """

    def __init__(self, names: Sequence[str], tokens: Sequence[Sequence[str]], load: Callable[[int], np.ndarray],
                 vocab: Vocabulary) -> None:
        self.names = list(names)
        self.tokens = [tuple(t) for t in tokens]
        self.vocab = vocab
        self.images = [load(i) for i in range(len(self.names))]
        self.sizes = [im.shape for im in self.images]
        self._plan = BatchPlan()
        self._loader: torch.utils.data.DataLoader | None = None
        self._loader_key: tuple[str, int] | None = None

    @classmethod
    def from_dataset(cls, ds: Im2LatexDataset, vocab: Vocabulary, formulas: Sequence[str] | None = None,
                     max_tokens: int | None = None, limit: int | None = None) -> "ImageSet":
        """A split through the reader. ``formulas`` replaces the normalized formulas by another
        file with the same line indices (tokenized training, IM2TEX-TOK). ``max_tokens`` drops
        longer formulas (the paper's training filter; the count is logged, not silent)."""
        items = []
        for item in ds.items:
            toks = item.tokens if formulas is None else tuple(formulas[ds.formula_index(item.name)].split())
            items.append((item.name, toks))
        if max_tokens is not None:
            kept = [it for it in items if len(it[1]) <= max_tokens]
            if len(kept) < len(items):
                log.info("%s: dropped %d formulas longer than %d tokens", ds, len(items) - len(kept), max_tokens)
            items = kept
        items = items[:limit] if limit else items
        return cls([f"{n}.png" for n, _ in items], [t for _, t in items],
                   lambda i: ds.load_image(items[i][0]), vocab)

    @classmethod
    def from_directory(cls, images_dir: Path, vocab: Vocabulary, limit: int | None = None) -> "ImageSet":
        """Every ``*.png`` of a directory, sorted by name, unlabeled (for prediction)."""
        images_dir = Path(images_dir)
        if not images_dir.is_dir():
            raise InputError("image directory not found", images_dir)
        paths = sorted(p for p in images_dir.iterdir() if p.suffix.lower() == ".png")
        if not paths:
            raise InputError("no .png images in directory", images_dir)
        paths = paths[:limit] if limit else paths
        return cls([p.name for p in paths], [()] * len(paths), lambda i: load_image(paths[i]), vocab)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> int:
        return i  # the loader's collate_fn gathers a whole batch from the in-memory lists

    def collate(self, idx: Sequence[int]) -> Batch:
        return collate([self.images[j] for j in idx], [self.tokens[j] for j in idx],
                       [self.names[j] for j in idx], self.vocab)

    def plan(self, batches: list[list[int]]) -> None:
        """Set the batches (lists of indices) the next pass over ``loader()`` yields."""
        self._plan.batches = batches

    def loader(self, device: torch.device, workers: int = 2) -> torch.utils.data.DataLoader:
        """The set's one loader for ``device``, yielding the planned batches in order."""
        cuda = device.type == "cuda"
        n = workers if cuda else 0
        if self._loader is None or self._loader_key != (device.type, n):
            self._loader = torch.utils.data.DataLoader(
                self, batch_sampler=self._plan, collate_fn=self.collate, num_workers=n,
                pin_memory=cuda, persistent_workers=n > 0)
            self._loader_key = (device.type, n)
        return self._loader


def training_vocabulary(ds: Im2LatexDataset, formulas: Sequence[str] | None) -> Vocabulary:
    """The dataset's vocabulary; for another formula file, its training tokens seen more than once
    (how the paper built every vocabulary)."""
    if formulas is None:
        return ds.vocab
    return Vocabulary(build_vocabulary(formulas[ds.formula_index(it.name)] for it in ds.items))
