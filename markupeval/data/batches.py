"""Bucket batching: batches whose images share one size, in an order fixed by a seed.

The one implementation behind :meth:`Im2LatexDataset.bucket_batches` (items), the torch batch
sampler and the baselines' in-memory batches (indices).
"""

from __future__ import annotations

import random
from typing import Hashable, Sequence


def bucket_batches(
    sizes: Sequence[Hashable], batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
) -> list[list[int]]:
    """Index batches of ``batch_size`` (the last of a bucket may be smaller) whose members share a size.

    Buckets are taken in sorted size order, members in input order; with ``shuffle``, the members
    of each bucket and then the batches are permuted by ``random.Random(seed)``, so an epoch's
    order depends on the seed only. ``drop_last`` drops each bucket's incomplete batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    groups: dict[Hashable, list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    rng = random.Random(seed)
    batches: list[list[int]] = []
    for key in sorted(groups):  # type: ignore[type-var]
        members = groups[key]
        if shuffle:
            rng.shuffle(members)
        for start in range(0, len(members), batch_size):
            batch = members[start : start + batch_size]
            if drop_last and len(batch) < batch_size:
                continue
            batches.append(batch)
    if shuffle:
        rng.shuffle(batches)
    return batches
