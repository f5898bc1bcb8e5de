"""The optional PyTorch view of :class:`~markupeval.data.reader.Im2LatexDataset`.

Imported only by ``Im2LatexDataset.torch_dataset()``, so the rest of markupeval never needs torch
(after nanoGPT importing ``transformers`` only inside ``from_pretrained``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from markupeval.data.reader import Im2LatexDataset


class TorchIm2Latex(Dataset):
    """``ds[i] -> (image, ids)``: image float32 ``[1, H, W]`` in 0..1 (1 = white), ids int64
    ``<s> tokens </s>``; tokens beyond ``max_tokens`` are cut (the filtered splits never need it).

    Use ``batch_sampler=BucketSampler(...)`` so every batch has one image size.
    """

    def __init__(self, ds: "Im2LatexDataset", max_tokens: int | None = None) -> None:
        self.ds = ds
        self.vocab = ds.vocab
        self.max_tokens = max_tokens
        self._index = {item.name: i for i, item in enumerate(ds.items)}

    def __len__(self) -> int:
        return len(self.ds.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.ds.items[i]
        image = self.ds.load_image(item.name).astype(np.float32) / 255.0
        tokens = item.tokens if self.max_tokens is None else item.tokens[: self.max_tokens]
        ids = self.vocab.encode(tokens, add_bos=True, add_eos=True)
        return torch.from_numpy(image)[None], torch.tensor(ids, dtype=torch.int64)

    def bucket_sampler(self, batch_size: int, shuffle: bool = True, seed: int = 0) -> "BucketSampler":
        return BucketSampler(self, batch_size, shuffle, seed)

    @staticmethod
    def collate(batch: list[tuple[torch.Tensor, torch.Tensor]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack same-size images ``[B,1,H,W]`` and right-pad ids with ``<pad>`` to ``[B,T]``."""
        images = torch.stack([b[0] for b in batch])
        ids = torch.nn.utils.rnn.pad_sequence([b[1] for b in batch], batch_first=True, padding_value=pad_id)
        return images, ids


class BucketSampler(torch.utils.data.Sampler):
    """Batch sampler over :meth:`Im2LatexDataset.bucket_batches`; call ``set_epoch`` to reshuffle."""

    def __init__(self, tds: TorchIm2Latex, batch_size: int, shuffle: bool = True, seed: int = 0) -> None:
        self.tds, self.batch_size, self.shuffle, self.seed = tds, batch_size, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        for batch in self.tds.ds.bucket_batches(self.batch_size, self.shuffle, self.seed + self.epoch):
            yield [self.tds._index[item.name] for item in batch]

    def __len__(self) -> int:
        return sum(-(-len(g) // self.batch_size) for g in self.tds.ds.buckets().values())
