"""CTC decoding: best-path (greedy) and prefix beam search over per-step log-probabilities.

``prefix_beam_batch`` is the decoder the baseline uses: one search over a whole batch (B, T, V), in
torch on the tensors' device. ``prefix_beam_reference`` is the plain-Python statement of the same
search, kept as the specification the batched one is tested against (tests/test_baseline_ctc.py) and
timed against (benchmarks/ctc_decode_speed.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import numpy as np
import torch

from markupeval.baselines.ctc.model import BLANK


def collapse(path: Sequence[int], blank: int = BLANK) -> list[int]:
    """CTC's many-to-one map: merge runs of equal symbols, then delete blanks ("aa-ab" -> "aab")."""
    out: list[int] = []
    prev = None
    for s in path:
        if s != prev and s != blank:
            out.append(int(s))
        prev = s
    return out


def greedy(logp: np.ndarray, blank: int = BLANK) -> list[int]:
    """Best path: the argmax symbol per step (T, V), collapsed."""
    return collapse(np.asarray(logp).argmax(-1).tolist(), blank)


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def prefix_beam_reference(logp: np.ndarray, beam: int = 5, blank: int = BLANK,
                          prune: int = 16) -> tuple[list[int], float]:
    """CTC prefix beam search (Hannun et al. 2014) without a language model, one image (T, V).

    Each prefix keeps two log-probabilities: of the paths ending in a blank and in a non-blank, so
    that "a-a" (two a's) and "aa" (one a) are told apart. At each step only the ``prune`` most
    likely symbols are tried (equal log-probabilities: the lower symbol id first). Returns the best
    labelling and its log-probability summed over the paths the beam kept.

    Ties between prefixes go to the one first reached at that step (beams in rank order, then
    candidate symbols in rank order); ``prefix_beam_batch`` follows the same rule.
    """
    logp = np.asarray(logp, dtype=np.float64)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (p_blank, p_nonblank)
    for t in range(logp.shape[0]):
        row = logp[t]
        cands = np.argsort(-row, kind="stable")[:prune]
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            for s in cands:
                s = int(s)
                p = float(row[s])
                if s == blank:
                    e = nxt[prefix]
                    e[0] = _logsumexp(e[0], total + p)
                    continue
                last = prefix[-1] if prefix else None
                ext = prefix + (s,)
                e = nxt[ext]
                if s == last:
                    # repeating the last symbol needs a blank in between; otherwise it merges
                    e[1] = _logsumexp(e[1], pb + p)
                    same = nxt[prefix]
                    same[1] = _logsumexp(same[1], pnb + p)
                else:
                    e[1] = _logsumexp(e[1], total + p)
        beams = dict(sorted(((k, (v[0], v[1])) for k, v in nxt.items()),
                            key=lambda kv: _logsumexp(*kv[1]), reverse=True)[:beam])
    best = max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))
    return list(best[0]), _logsumexp(*best[1])


def prefix_beam(logp: np.ndarray, beam: int = 5, blank: int = BLANK, prune: int = 16) -> list[int]:
    """The prefix beam search of one image (T, V): the best labelling (see ``prefix_beam_batch``)."""
    ids, _ = prefix_beam_batch(torch.as_tensor(np.asarray(logp))[None], beam=beam, blank=blank, prune=prune)
    return ids[0]


def _lse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(e^a + e^b) by the reference's own formula, m + log(1 + e^(min - m)), so that equal
    inputs give the reference's float result in nearly every case (torch.logaddexp differs from it
    in the last bit in ~6 % of cases)."""
    m = torch.maximum(a, b)
    r = torch.minimum(a, b).sub_(m).exp_().add_(1.0).log_().add_(m)
    return r.nan_to_num_(nan=-math.inf)  # both -inf: -inf - -inf is nan


def _candidates(lp: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``p`` most likely symbols of each step (B, T, V) -> values (float64) and ids (B, T, p),
    most likely first, equal values by lower id: the reference's stable sort, at the cost of a top-k."""
    top = lp.topk(p, dim=-1)
    thr = top.values[..., -1:]                                                 # the p-th largest value
    above = lp > thr
    at = lp == thr
    n_above = above.sum(-1, keepdim=True)
    if bool(((n_above + at.sum(-1, keepdim=True)) == p).all()):
        ids = top.indices.sort(dim=-1).values                                   # no tie at the cut
    else:  # ties at the cut: the lowest ids among them, as a stable sort takes them
        take = above | (at & (at.cumsum(-1) <= p - n_above))
        ids = take.nonzero()[:, 2].view(*lp.shape[:2], p)                       # ascending ids
    vals, order = lp.gather(2, ids).to(torch.float64).sort(dim=-1, descending=True, stable=True)
    return vals, ids.gather(2, order)


def prefix_beam_batch(logp: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None, beam: int = 5,
                      blank: int = BLANK, prune: int = 16) -> tuple[list[list[int]], list[float]]:
    """CTC prefix beam search over a batch of log-probabilities (B, T, V), on their device.

    The same search as ``prefix_beam_reference``, step by step for all images and beams at once:
    each step builds every candidate of every beam (the beam itself, kept by a blank or a repeated
    last symbol, and the beam extended by each of the ``prune`` most likely symbols), folds an
    extension into the beam it equals (summing their probabilities), and keeps the ``beam`` best,
    ties going to the candidate the reference reaches first. ``lengths`` (B,) gives each image's
    number of valid steps; later steps are ignored. Returns the best labelling of each image and
    its log-probability.

    Prefixes are nodes of a trie with one id per distinct prefix, so that "is this extension one
    of the beams" is a comparison of ids: a prefix that leaves the beam and is built again later
    gets its old id back from the trie's (node, symbol) -> child table.
    """
    if logp.dim() != 3:
        raise ValueError(f"expected log-probabilities (B, T, V), got shape {tuple(logp.shape)}")
    if beam < 1 or prune < 1:
        raise ValueError(f"beam and prune must be >= 1, got {beam} and {prune}")
    dev = logp.device
    lp = logp.detach()
    if not lp.is_floating_point():
        lp = lp.to(torch.float64)
    nb, nt, nv = lp.shape
    if not 0 <= blank < nv:
        raise ValueError(f"blank {blank} is not a symbol of a {nv}-symbol vocabulary")
    if bool(lp.isnan().any()):
        raise ValueError("log-probabilities contain NaN")
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=dev).reshape(-1)
        if lengths.numel() != nb:
            raise ValueError(f"lengths has {lengths.numel()} entries for {nb} images")
        # A padded step becomes "blank with certainty": it leaves every prefix and its total as it is.
        pad = torch.arange(nt, device=dev)[None, :] >= lengths[:, None]
        pad_row = torch.full((nv,), -math.inf, dtype=lp.dtype, device=dev)
        pad_row[blank] = 0.0
        lp = torch.where(pad[:, :, None], pad_row, lp)
    if nb == 0 or nt == 0:
        return [[] for _ in range(nb)], [0.0] * nb
    k, p = beam, min(prune, nv)
    inf = math.inf
    i64 = torch.long

    with torch.inference_mode():
        # Per-step tables, built once.
        vals, cands = _candidates(lp, p)                                              # (B, T, P)
        rank = torch.full((nb, nt, nv), p, dtype=torch.uint8 if p < 255 else i64, device=dev)
        rank.scatter_(2, cands, torch.arange(p, device=dev, dtype=rank.dtype).expand(nb, nt, p))
        rank_blank = rank[..., blank]
        pb_add = lp[..., blank].to(torch.float64).masked_fill_(rank_blank == p, -inf)  # (B, T)
        steps = zip(vals.unbind(1), cands.unbind(1), rank.unbind(1), pb_add[:, :, None].unbind(1),
                    (2 * rank_blank.long())[:, :, None].unbind(1), (rank_blank < p)[:, :, None].unbind(1),
                    (cands != blank).unbind(1))

        # Insertion order in the reference: beam i, then candidate c, then (for a repeat) the beam
        # itself: event (i, c, r) is i*stride + 2c + r. A stay's event for a symbol outside the
        # candidates (c = P) stays inside beam i's range and is never its first real one.
        stride = 2 * p + 2
        big = k * stride + 1
        slot = torch.arange(k, device=dev)
        own_base = slot * stride
        n_pool = k + k * p + 1                    # stays, extensions, one never-valid spare
        pool = torch.arange(n_pool, device=dev)
        pool_src = torch.where(pool < k, pool, (pool - k) // p).clamp_(max=k - 1)[None].expand(nb, -1)
        pool_c = ((pool - k) % p)[None].expand(nb, -1)
        ext_order = (own_base[:, None] + 2 * torch.arange(p, device=dev)[None, :]).reshape(1, k * p).expand(nb, -1)
        spare_order = torch.full((nb, 1), big, dtype=i64, device=dev)
        spare_key = torch.full((nb, 1), -inf, dtype=torch.float64, device=dev)
        spare_valid = torch.zeros((nb, 1), dtype=torch.bool, device=dev)

        # The trie: node 0 is the empty prefix, node t*K + s + 1 the one slot s may create at step t,
        # the last id a sink for writes that must not land. child[b, n*V + s]: node of n + (s,), or -1.
        n_nodes = nt * k + 2
        sink = n_nodes - 1
        child = torch.full((nb, n_nodes * nv + 1), -1, dtype=torch.int32, device=dev)
        node_parent = torch.zeros((nb, n_nodes), dtype=i64, device=dev)
        node_sym = torch.zeros((nb, n_nodes), dtype=i64, device=dev)
        fresh_ids = (torch.arange(nt, device=dev)[:, None] * k + slot[None, :] + 1)[:, None, :].expand(nt, nb, k)

        # Beam state (B, K): slot 0 holds the empty prefix; the others are empty until filled. The
        # empty prefix's "last symbol" is the blank, which no extension repeats.
        pb = torch.full((nb, k), -inf, dtype=torch.float64, device=dev)
        pb[:, 0] = 0.0
        pnb = torch.full_like(pb, -inf)
        total = pb.clone()
        valid = torch.zeros((nb, k), dtype=torch.bool, device=dev)
        valid[:, 0] = True
        last = torch.full((nb, k), blank, dtype=i64, device=dev)
        node = torch.zeros((nb, k), dtype=i64, device=dev)
        up = torch.full((nb, k), -1, dtype=i64, device=dev)                           # the parent's node

        for t, (v_t, c_t, r_t, pba_t, cb2_t, bin_t, ok_t) in enumerate(steps):
            # Extensions (B, K, P): repeating the last symbol needs the blank-ending paths.
            ext = torch.where(c_t[:, None, :] == last[:, :, None], pb[:, :, None], total[:, :, None]).add_(v_t[:, None, :])
            ext_flat = ext.view(nb, k * p)
            # Beam i's extension by beam j's last symbol is beam j when i is j's parent.
            cl = r_t.gather(1, last).long()                                           # (B, K); P: not a candidate
            cl_in = cl < p
            is_parent = (node[:, :, None] == up[:, None, :]) & valid[:, :, None] & (valid & cl_in)[:, None, :]
            has_parent, par = is_parent.max(1)                                       # (B, K_j)
            clc = cl.clamp(max=p - 1)
            into = par * p + clc
            merged = ext_flat.gather(1, into).masked_fill_(~has_parent, -inf)
            # Beam j itself: a blank keeps all its paths, a repeat of its last symbol its non-blank ones.
            stay_pb = total + pba_t
            stay_pnb = _lse((pnb + v_t.gather(1, clc)).masked_fill_(~cl_in, -inf), merged)
            stay_total = _lse(stay_pb, stay_pnb)
            stay_valid = valid & (bin_t | cl_in)
            cl2 = cl + cl
            own = own_base + torch.minimum(cb2_t, cl2 + 1)
            order = torch.where(has_parent, torch.minimum(own, par * stride + cl2), own)
            # The pool: stays, extensions (less those folded into a stay), a spare; the best K.
            pool_valid = torch.cat([stay_valid, (valid[:, :, None] & ok_t[:, None, :]).view(nb, k * p), spare_valid], 1)
            pool_valid.scatter_(1, torch.where(has_parent, k + into, n_pool - 1), False)
            # Ties go by insertion order, and entries that do not exist come after every one that does:
            # a stable sort by total of the pool laid out in insertion order.
            invalid = ~pool_valid
            key = torch.cat([stay_total, ext_flat, spare_key], 1).masked_fill_(invalid, -inf)
            by_order = torch.cat([order, ext_order, spare_order], 1).masked_fill_(invalid, big).argsort(dim=1)
            ranked = key.gather(1, by_order).sort(dim=1, descending=True, stable=True).indices[:, :k]
            sel = by_order.gather(1, ranked)                                          # (B, K) pool indices, best first
            # The new beams.
            is_ext = sel >= k
            src = pool_src.gather(1, sel)
            sym = c_t.gather(1, pool_c.gather(1, sel))
            total = key.gather(1, sel)
            valid = pool_valid.gather(1, sel)
            pb = stay_pb.gather(1, src).masked_fill_(is_ext, -inf)
            pnb = torch.where(is_ext, ext_flat.gather(1, (sel - k).clamp_(0, k * p - 1)), stay_pnb.gather(1, src))
            last = torch.where(is_ext, sym, last.gather(1, src))
            # Trie: an extension's node is the known child, or the slot's fresh id, recorded.
            node_src = node.gather(1, src)
            at = node_src * nv + sym
            known = child.gather(1, at)
            grow = is_ext & valid
            fresh = fresh_ids[t]
            ext_node = torch.where(known < 0, fresh, known)
            child.scatter_(1, torch.where(grow, at, child.shape[1] - 1), ext_node.to(torch.int32))
            ids = slice(t * k + 1, t * k + k + 1)
            node_parent[:, ids] = node_src
            node_sym[:, ids] = sym
            up = torch.where(is_ext, node_src, up.gather(1, src))
            node = torch.where(is_ext, ext_node, node_src)

        # Slots stay sorted by total, so slot 0 is the best (the reference's max, ties to the first).
        best = node[:, 0].cpu().tolist()
        parents = node_parent.cpu().numpy()
        syms = node_sym.cpu().numpy()
        scores = total[:, 0].cpu().tolist()
    out: list[list[int]] = []
    for b, n in enumerate(best):
        ids_b: list[int] = []
        par_b, sym_b = parents[b], syms[b]
        while n != 0:
            ids_b.append(int(sym_b[n]))
            n = int(par_b[n])
        out.append(ids_b[::-1])
    return out, scores
