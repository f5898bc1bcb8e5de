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


@torch.no_grad()
def greedy(model: Im2Tex, images: torch.Tensor, max_len: int | None = None) -> Decoded:
    """Argmax decoding; a row stops at ``</s>`` (its later steps are not counted)."""
    model.eval()
    max_len = max_len or model.cfg.max_decode_len
    mem = model.encode(images)
    b = images.size(0)
    state = model.init_state(b, images.device)
    y = torch.full((b,), Vocabulary.bos_id, dtype=torch.long, device=images.device)
    done = torch.zeros(b, dtype=torch.bool, device=images.device)
    score = torch.zeros(b, device=images.device)
    out, cl, fl, steps = [], 0.0, 0.0, 0
    for _ in range(max_len + 1):  # max_len tokens plus </s>
        logits, state, info = model.step(y, state, mem)
        logp = next_logprobs(logits)
        y = logp.argmax(-1)
        live = ~done
        score += torch.where(live, logp.gather(1, y[:, None]).squeeze(1), torch.zeros_like(score))
        cl += float(info.coarse_lookups[live].sum())
        fl += float(info.fine_lookups[live].sum())
        steps += int(live.sum())
        out.append(torch.where(done, torch.full_like(y, Vocabulary.eos_id), y))
        done |= y == Vocabulary.eos_id
        if bool(done.all()):
            break
    seqs = torch.stack(out, 1).tolist()
    return Decoded([_trim(s) for s in seqs], score.tolist(), cl, fl, steps)


@torch.no_grad()
def beam_search(model: Im2Tex, images: torch.Tensor, beam: int = 5, max_len: int | None = None) -> Decoded:
    """Batched beam search over B images x ``beam`` hypotheses, scored by summed log-probability.

    Finished hypotheses stay in the beam with their score frozen (they may only extend by
    ``<pad>`` at no cost), so a beam of width 1 makes exactly the greedy choices.
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
    seqs = torch.zeros(b * k, 0, dtype=torch.long, device=dev)
    cl, fl, steps = 0.0, 0.0, 0
    for _ in range(max_len + 1):
        logits, state, info = model.step(y, state, mem)
        logp = next_logprobs(logits)                                   # (B*K, V)
        live = ~done & torch.isfinite(scores.view(-1))
        cl += float(info.coarse_lookups[live].sum())
        fl += float(info.fine_lookups[live].sum())
        steps += int(live.sum())
        frozen = torch.full_like(logp, float("-inf"))
        frozen[:, Vocabulary.pad_id] = 0.0
        logp = torch.where(done[:, None], frozen, logp)
        v = logp.size(1)
        cand = (scores.view(-1, 1) + logp).view(b, k * v)
        scores, idx = cand.topk(k, dim=1)                                       # (B, K)
        src = (torch.arange(b, device=dev)[:, None] * k + idx // v).view(-1)    # parent rows
        y = (idx % v).view(-1)
        state = state.index_select(src)
        seqs = torch.cat([seqs.index_select(0, src), y[:, None]], dim=1)
        done = done.index_select(0, src) | (y == Vocabulary.eos_id)
        if bool(done.all()):
            break
    best = scores.argmax(1)                                                     # (B,)
    rows = torch.arange(b, device=dev) * k + best
    picked = seqs.index_select(0, rows).tolist()
    return Decoded([_trim([t for t in s if t != Vocabulary.pad_id]) for s in picked],
                   scores.gather(1, best[:, None]).squeeze(1).tolist(), cl, fl, steps)


def decode(model: Im2Tex, images: torch.Tensor, beam: int = 5, max_len: int | None = None) -> Decoded:
    return greedy(model, images, max_len) if beam <= 1 else beam_search(model, images, beam, max_len)
