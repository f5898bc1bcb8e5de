"""Greedy and batched beam-search decoding for IM2TEX, counting attention lookups (paper Table 4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from markupeval.baselines.common.data import Vocabulary
from markupeval.baselines.im2tex.model import Im2Tex


@dataclass
class Decoded:
    ids: list[list[int]]          # per image, token ids without <s> and </s>
    scores: list[float]           # per image, log-probability of the returned sequence
    coarse_lookups: float = 0.0   # summed over every (hypothesis, step) decoded
    fine_lookups: float = 0.0
    steps: int = 0                # number of (hypothesis, step) pairs the sums are over


def next_logprobs(logits: torch.Tensor) -> torch.Tensor:
    """log p(next token) with ``<pad>`` and ``<s>`` excluded: they are never targets, so the model
    gives them little mass, but an undertrained model could still pick them."""
    logits = logits.float().clone()
    logits[:, Vocabulary.pad_id] = float("-inf")
    logits[:, Vocabulary.bos_id] = float("-inf")
    return logits.log_softmax(-1)


def _trim(seq: list[int]) -> list[int]:
    return seq[: seq.index(Vocabulary.eos_id)] if Vocabulary.eos_id in seq else seq


#: Steps between checks that every row has finished: the check reads a flag back from the device
#: (a host sync), and the steps after the last row ends only append free ``<pad>``s.
DONE_CHECK_EVERY = 8


def _lookups(info, live: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lf = live.to(info.fine_lookups.dtype)
    return (info.coarse_lookups * lf).sum(), (info.fine_lookups * lf).sum()


@torch.no_grad()
def greedy(model: Im2Tex, images: torch.Tensor, max_len: int | None = None) -> Decoded:
    """Argmax decoding; a row stops at ``</s>`` (its later steps are not counted)."""
    model.eval()
    max_len = max_len or model.cfg.max_decode_len
    mem = model.encode(images)
    b = images.size(0)
    dev = images.device
    state = model.init_state(b, dev)
    y = torch.full((b,), Vocabulary.bos_id, dtype=torch.long, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    score = torch.zeros(b, device=dev)
    cl = torch.zeros((), device=dev)
    fl = torch.zeros((), device=dev)
    steps = torch.zeros((), dtype=torch.long, device=dev)
    out = torch.full((max_len + 1, b), Vocabulary.eos_id, dtype=torch.long, device=dev)
    for t in range(max_len + 1):  # max_len tokens plus </s>
        logits, state, info = model.step(y, state, mem)
        logp = next_logprobs(logits)
        y = logp.argmax(-1)
        live = ~done
        score += logp.gather(1, y[:, None]).squeeze(1) * live
        c, f = _lookups(info, live)
        cl += c
        fl += f
        steps += live.sum()
        out[t] = torch.where(done, Vocabulary.eos_id, y)
        done |= y == Vocabulary.eos_id
        if (t + 1) % DONE_CHECK_EVERY == 0 and bool(done.all()):
            break
    seqs = out[: t + 1].t().tolist()
    return Decoded([_trim(s) for s in seqs], score.tolist(), float(cl), float(fl), int(steps))


@torch.no_grad()
def beam_search(model: Im2Tex, images: torch.Tensor, beam: int = 5, max_len: int | None = None) -> Decoded:
    """Batched beam search over B images x ``beam`` hypotheses, scored by summed log-probability.

    Finished hypotheses stay in the beam with their score frozen (they may only extend by
    ``<pad>`` at no cost), so a beam of width 1 makes exactly the greedy choices. Each step keeps
    only its tokens and parent pointers; the sequences are read back once, at the end, so a step
    costs the same at length 150 as at length 1.
    """
    model.eval()
    max_len = max_len or model.cfg.max_decode_len
    b, k = images.size(0), beam
    dev = images.device
    mem = model.encode(images).index_select(torch.arange(b, device=dev).repeat_interleave(k))
    state = model.init_state(b * k, dev)
    y = torch.full((b * k,), Vocabulary.bos_id, dtype=torch.long, device=dev)
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    done = torch.zeros(b * k, dtype=torch.bool, device=dev)
    tokens = torch.zeros(max_len + 1, b * k, dtype=torch.long, device=dev)
    parents = torch.zeros(max_len + 1, b * k, dtype=torch.long, device=dev)
    base = torch.arange(b, device=dev)[:, None] * k
    cl = torch.zeros((), device=dev)
    fl = torch.zeros((), device=dev)
    steps = torch.zeros((), dtype=torch.long, device=dev)
    for t in range(max_len + 1):
        logits, state, info = model.step(y, state, mem)
        logp = next_logprobs(logits)                                   # (B*K, V)
        live = ~done & torch.isfinite(scores.view(-1))
        c, f = _lookups(info, live)
        cl += c
        fl += f
        steps += live.sum()
        # A finished row may only continue with <pad>, at no cost: its score stays frozen.
        logp.masked_fill_(done[:, None], float("-inf"))
        logp[:, Vocabulary.pad_id].masked_fill_(done, 0.0)
        v = logp.size(1)
        cand = (scores.view(-1, 1) + logp).view(b, k * v)
        scores, idx = cand.topk(k, dim=1)                                       # (B, K)
        src = (base + idx // v).view(-1)                                        # parent rows
        y = (idx % v).view(-1)
        tokens[t] = y
        parents[t] = src
        state = state.index_select(src)
        done = done.index_select(0, src) | (y == Vocabulary.eos_id)
        if (t + 1) % DONE_CHECK_EVERY == 0 and bool(done.all()):
            break
    best = scores.argmax(1)                                                     # (B,)
    row = torch.arange(b, device=dev) * k + best
    picked = torch.empty(t + 1, b, dtype=torch.long, device=dev)
    for s in range(t, -1, -1):  # follow the parent pointers back from the best final row
        picked[s] = tokens[s, row]
        row = parents[s, row]
    seqs = picked.t().tolist()
    return Decoded([_trim([tok for tok in s if tok != Vocabulary.pad_id]) for s in seqs],
                   scores.gather(1, best[:, None]).squeeze(1).tolist(), float(cl), float(fl), int(steps))


def decode(model: Im2Tex, images: torch.Tensor, beam: int = 5, max_len: int | None = None) -> Decoded:
    return greedy(model, images, max_len) if beam <= 1 else beam_search(model, images, beam, max_len)
