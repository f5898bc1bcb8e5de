"""Pixel columns as symbols: binarisation, packing, and the original's greedy column clustering.

The image metrics treat each pixel column (top to bottom) of a binarised image as one symbol. The
original ``evaluate_image.py`` built a '0'/'1' string per column and compared columns with Python
loops; here the columns of a pair are packed into bytes, deduplicated once with ``np.unique``, and
every later step works on the few hundred *distinct* columns instead of on pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A pixel is ink when its grayscale value is at most this (the original's ``<= 128``).
INK_THRESHOLD = 128
#: Two columns fall into one cluster when they differ in fewer than this many pixels.
PIXEL_TOLERANCE = 5


def ink_mask(image: np.ndarray, threshold: int = INK_THRESHOLD) -> np.ndarray:
    """Boolean ``(height, width)`` mask of the ink pixels of a 2-D uint8 grayscale image."""
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 grayscale image, got {image.dtype} array of shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"image has no pixels (shape {image.shape})")
    return image <= threshold


@dataclass(frozen=True)
class ColumnAlphabet:
    """The distinct columns of a gold/prediction pair, numbered in order of first appearance.

    Column ``k`` of the gold image is symbol ``gold_ids[k]``; numbering walks the gold columns
    first, then the prediction's — the order in which the original's clustering visits them.
    ``words[i]`` is the (bottom-padded) pixel column of symbol ``i`` packed into 64-bit words
    (zero bits past the image height); ``blank_id`` is the symbol of the all-blank column, if any.
    """

    gold_ids: np.ndarray
    pred_ids: np.ndarray
    words: np.ndarray
    blank_id: int | None

    @property
    def size(self) -> int:
        return len(self.words)


_HAS_POPCOUNT = hasattr(np, "bitwise_count")  # numpy >= 2.0

# Odd 64-bit multiplier (from splitmix64) for folding multi-word columns into one hash key.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def column_alphabet(gold_ink: np.ndarray, pred_ink: np.ndarray) -> ColumnAlphabet:
    """Number the columns of two ink masks so that equal columns (after padding) share a symbol.

    The shorter image is padded with blank pixels at the bottom, as the original appended '0's to
    its column strings: packing each image along its height and zero-filling the missing bytes
    gives exactly those padded columns.
    """
    w1 = gold_ink.shape[1]
    # Packing along the contiguous axis of the transposed mask is twice as fast as along axis 0.
    gold_bytes = np.packbits(np.ascontiguousarray(gold_ink.T), axis=1)
    pred_bytes = np.packbits(np.ascontiguousarray(pred_ink.T), axis=1)
    n_bytes = max(gold_bytes.shape[1], pred_bytes.shape[1])
    n_words = -(-n_bytes // 8)
    # One row per column, zero-padded to whole 64-bit words so that a column is a few integers.
    rows = np.zeros((w1 + len(pred_bytes), 8 * n_words), dtype=np.uint8)
    rows[:w1, : gold_bytes.shape[1]] = gold_bytes
    rows[w1:, : pred_bytes.shape[1]] = pred_bytes
    words = rows.view(np.uint64)
    keys = words[:, 0]
    if n_words > 1:
        # Fold the words into one hash and sort that: far faster than np.unique over byte rows.
        keys = keys.copy()
        for j in range(1, n_words):
            keys *= _MIX
            keys ^= words[:, j]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if n_words > 1 and not np.array_equal(words[first[inverse]], words):
        # A hash collision merged two different columns (never seen in practice): redo exactly.
        void = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1]))).ravel()
        _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    # np.unique numbers symbols in sorted key order; renumber them by first appearance.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ids = rank[inverse]
    distinct = first[order]
    blank = np.flatnonzero(~words[distinct].any(axis=1))
    return ColumnAlphabet(
        gold_ids=ids[:w1],
        pred_ids=ids[w1:],
        words=words[distinct],
        blank_id=int(blank[0]) if len(blank) else None,
    )


#: Rows of the distance matrix computed per block; larger alphabets skip the upper triangle.
_BLOCK = 128


def near_sets(words: np.ndarray, tolerance: int = PIXEL_TOLERANCE) -> list[int]:
    """For each distinct column (packed into 64-bit ``words``), the columns *before it or in its
    block* that differ from it in fewer than ``tolerance`` pixels, as a Python int bitset (bit
    ``j`` set = column ``j`` is near). The greedy clustering only ever asks about earlier columns,
    so for alphabets of more than two blocks the upper triangle is not computed at all."""
    n = len(words)
    if n == 0:
        return []
    if not _HAS_POPCOUNT:
        return _rows_to_ints(_near_matrix_matmul(words, tolerance))
    # XOR + popcount per 64-bit word, accumulated word by word: a 2-D array per word is much
    # faster than one 3-D array reduced over its short last axis. Counts reach 64 per word,
    # so more than three words need a wider accumulator.
    columns = [np.ascontiguousarray(words[:, j]) for j in range(words.shape[1])]
    dtype = np.uint8 if len(columns) <= 3 else np.uint16
    block = n if n <= 2 * _BLOCK else _BLOCK
    out: list[int] = []
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        hamming = np.zeros((r1 - r0, r1), dtype=dtype)
        for column in columns:
            hamming += np.bitwise_count(column[r0:r1, None] ^ column[None, :r1])
        out.extend(_rows_to_ints(hamming < tolerance))
    return out


def _near_matrix_matmul(words: np.ndarray, tolerance: int) -> np.ndarray:
    # numpy < 2 has no popcount ufunc: |a xor b| = |a| + |b| - 2 a.b, exact in float32 for
    # these counts (BLAS threads make it costlier in CPU time, hence not the default).
    bits = np.unpackbits(words.view(np.uint8), axis=1).astype(np.float32)
    counts = bits.sum(axis=1)
    return counts[:, None] + counts[None, :] - 2.0 * (bits @ bits.T) < tolerance


def _rows_to_ints(near: np.ndarray) -> list[int]:
    packed = np.packbits(near, axis=1, bitorder="little")
    stride = packed.shape[1]
    raw = packed.tobytes()
    return [int.from_bytes(raw[i : i + stride], "little") for i in range(0, len(raw), stride)]


def greedy_clusters(near: list[int], skip: int | None = None) -> np.ndarray:
    """Cluster label of every distinct column, exactly as the original's ``make_strs`` assigned them.

    The original walks the columns in order; a column joins the *first-created* representative
    that is near it, otherwise it becomes a new representative with the next label. Walking the
    distinct columns in first-appearance order gives the same result, because a repeated column
    was skipped by the original (its value was already in the dictionary). Representatives are
    created in walk order, so "the first-created representative near column i" is the lowest set
    bit of ``near[i] & representatives`` — one integer operation per column instead of a loop
    over representatives. ``skip`` leaves one column out of the walk (the blank column, for
    Match (-ws)); its label is -1.
    """
    labels = [-1] * len(near)
    representatives = 0
    count = 0
    for i, row in enumerate(near):
        if i == skip:
            continue
        hit = row & representatives
        if hit:
            labels[i] = labels[(hit & -hit).bit_length() - 1]
        else:
            representatives |= 1 << i
            labels[i] = count
            count += 1
    return np.asarray(labels, dtype=np.int64)


def as_symbols(ids: np.ndarray, alphabet_size: int) -> str | list[int]:
    """Symbols as a str (one code point each) for Levenshtein's fast path.

    UTF-32 decoding turns the ids into a str without a Python loop; it refuses surrogate code
    points, so an alphabet that reaches them (tens of thousands of distinct columns) falls back to
    a list of ints, which Levenshtein compares the same way, only slower. Both sequences of a pair
    must take the same branch, hence the alphabet size rather than this sequence's maximum.
    """
    if alphabet_size <= 0xD800:
        return ids.astype("<u4").tobytes().decode("utf-32-le")
    return ids.tolist()
