"""The token vocabulary: building it as the original did, and mapping tokens to ids.

``generate_latex_vocab.py`` of harvardnlp/im2markup counts the whitespace tokens
(``line.strip().split()``) of the formulas listed in the *filtered* training list, keeps those seen
more than once (``--unk-threshold 1``: "less than (including) the threshold" is excluded), sorts
them with Python's string order and writes them joined by ``"\\n"``. :func:`build_vocabulary`
does the same; :class:`Vocabulary` adds the special tokens a model needs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from markupeval.errors import InputError

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
#: Special tokens and their fixed ids, before the file's tokens (which start at id 4).
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK)


def count_tokens(formulas: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for f in formulas:
        counts.update(f.strip().split())
    return counts


def build_vocabulary(formulas: Iterable[str], min_count: int = 2) -> list[str]:
    """Tokens seen at least ``min_count`` times (the original: more than once), sorted."""
    counts = count_tokens(formulas)
    return sorted(t for t, c in counts.items() if c >= min_count)


def write_vocabulary(path: Path, tokens: Sequence[str]) -> None:
    # One token per line with a final newline; readers strip it, and the original's missing
    # final newline is no part of the contract.
    Path(path).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


@dataclass
class Vocabulary:
    """Token <-> id mapping.

    Ids: ``0 <pad>``, ``1 <s>`` (start of sequence), ``2 </s>`` (end), ``3 <unk>`` (any token not in
    the file), then the file's tokens in file order from id 4. A file token equal to a special
    token keeps the special id (no duplicate ids).
    """

    tokens: list[str]
    _ids: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        itos = list(SPECIAL_TOKENS)
        for t in self.tokens:
            if t not in itos:
                itos.append(t)
        self._itos = itos
        self._ids = {t: i for i, t in enumerate(itos)}

    @classmethod
    def load(cls, path: Path) -> "Vocabulary":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read vocabulary: {exc.strerror}", path) from None
        tokens = []
        for lineno, line in enumerate(text.split("\n"), start=1):
            tok = line.strip()
            if not tok:
                continue
            if " " in tok or "\t" in tok:
                raise InputError(f"vocabulary token contains whitespace: {tok!r}", path, lineno)
            tokens.append(tok)
        return cls(tokens)

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def id(self, token: str) -> int:
        return self._ids.get(token, self.unk_id)

    def token(self, idx: int) -> str:
        return self._itos[idx]

    def encode(self, tokens: Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = [self.id(t) for t in tokens]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Tokens of ``ids``; stops at ``</s>`` and drops ``<pad>``/``<s>`` when ``strip_special``."""
        out = []
        for i in ids:
            i = int(i)
            if strip_special:
                if i == self.eos_id:
                    break
                if i in (self.pad_id, self.bos_id):
                    continue
            out.append(self._itos[i])
        return out
