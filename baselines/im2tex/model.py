"""IM2TEX (Deng et al., ICML 2017): CNN + row encoder + attention decoder, with coarse-to-fine attention.

The whole network in one file, in the nanoGPT spirit: :class:`Im2TexConfig` holds every size,
:class:`Im2Tex` builds from it, ``training_loss`` returns the loss, ``encode`` / ``step`` are what
the decoders in :mod:`markupeval.baselines.im2tex.decode` drive. Shapes in comments: B batch, H'/W' the fine
grid (image / 8), Hc/Wc the coarse grid (fine / 4), N coarse cells, K fine positions per cell,
D feature size, A attention size, V vocabulary.

Attention variants (paper §4, Table 2 / 4):

* ``standard``      softmax over all fine cells.
* ``coarse``        softmax over the coarse cells only (coarse features are the context).
* ``hierarchical``  softmax over coarse cells x softmax over the fine cells inside each one.
* ``c2f-sparsemax`` sparsemax over coarse cells; fine attention only inside the non-zero cells.
* ``c2f-hard``      one coarse cell sampled (argmax at test), trained with REINFORCE; fine
                    attention only inside it.

Every variant is one mechanism: fine features are kept as (B, N, K, D), "cells" of K fine
positions. ``standard`` is the special case N = 1, K = H'W' with coarse weight 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from markupeval.baselines.common.data import Batch, Vocabulary
from markupeval.baselines.common.train import LossParts
from markupeval.baselines.im2tex.config import CELL, Im2TexConfig

# ----------------------------------------------------------------------------------------------
# sparsemax (Martins & Astudillo, 2016)

def sparsemax(z: torch.Tensor, mask: torch.Tensor | None = None, dim: int = -1) -> torch.Tensor:
    """Euclidean projection of ``z`` onto the probability simplex along ``dim``.

    Sort-based closed form: with z sorted decreasingly, k(z) = max{k : 1 + k z_(k) > sum_{j<=k} z_(j)},
    tau = (sum_{j<=k(z)} z_(j) - 1) / k(z), p = max(z - tau, 0). Masked entries get probability 0.
    Its gradient is the one autograd derives from this formula (sort/gather are differentiable).
    """
    z = z.float()
    if mask is not None:
        # A large negative (not -inf) keeps the cumulative sums finite; such entries never reach
        # the support because at least one unmasked entry exists.
        z = z.masked_fill(~mask, -1e9)
    z = z - z.max(dim=dim, keepdim=True).values.detach()
    zs, _ = torch.sort(z, dim=dim, descending=True)
    k = torch.arange(1, z.size(dim) + 1, device=z.device, dtype=z.dtype)
    shape = [1] * z.dim()
    shape[dim] = -1
    k = k.view(shape)
    cums = zs.cumsum(dim)
    support = (1 + k * zs) > cums
    k_z = support.sum(dim=dim, keepdim=True).clamp(min=1)
    tau = (cums.gather(dim, k_z - 1) - 1) / k_z.to(z.dtype)
    return torch.clamp(z - tau, min=0)


# ----------------------------------------------------------------------------------------------
# encoder

def conv(cin: int, cout: int, bn: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, 1, 1)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.ReLU(inplace=True)]


class CNN(nn.Module):
    """im2markup's CNN: six 3x3 convs, no fully connected layer, downsampling x8 in each direction."""

    def __init__(self, ch: tuple[int, ...]) -> None:
        super().__init__()
        self.net = nn.Sequential(
            *conv(1, ch[0], False), nn.MaxPool2d(2, 2),
            *conv(ch[0], ch[1], False), nn.MaxPool2d(2, 2),
            *conv(ch[1], ch[2], True),
            *conv(ch[2], ch[3], False), nn.MaxPool2d((2, 1), (2, 1)),   # height only
            *conv(ch[3], ch[4], True), nn.MaxPool2d((1, 2), (1, 2)),    # width only
            *conv(ch[4], ch[5], True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1, H, W) -> (B, C, H/8, W/8)


class RowEncoder(nn.Module):
    """A bidirectional LSTM run over each row of the grid, with a trainable initial state per row.

    The per-row initial state is the paper's positional embedding: it tells the decoder which row
    a feature came from. Rows past ``max_rows`` share the last one's.
    """

    def __init__(self, cin: int, hidden: int, max_rows: int, pos_embed: bool = True) -> None:
        super().__init__()
        self.hidden = hidden
        self.lstm = nn.LSTM(cin, hidden, batch_first=True, bidirectional=True)
        # Without it (-PosEmbed) every row starts from the zero state and rows are told apart only
        # by their content.
        self.init_state = nn.Embedding(max_rows, 2 * 2 * hidden) if pos_embed else None  # (h0, c0) x (fw, bw)
        self.max_rows = max_rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(b * h, w, c)                         # (B*H', W', C)
        if self.init_state is None:
            return self.lstm(rows)[0].reshape(b, h, w, 2 * self.hidden)
        idx = torch.arange(h, device=x.device).clamp(max=self.max_rows - 1).repeat(b)
        st = self.init_state(idx).view(b * h, 2, 2, self.hidden)                  # (B*H', h/c, dir, hid)
        h0 = st[:, 0].transpose(0, 1).contiguous()                                # (2, B*H', hid)
        c0 = st[:, 1].transpose(0, 1).contiguous()
        out, _ = self.lstm(rows, (h0.to(rows.dtype), c0.to(rows.dtype)))          # (B*H', W', 2*hid)
        return out.reshape(b, h, w, 2 * self.hidden)                              # (B, H', W', D)


@dataclass
class Memory:
    """The encoded image, in the layout attention reads; rows follow the (beam-expanded) batch."""

    fine: torch.Tensor            # (B, N, K, D)
    fine_proj: torch.Tensor | None  # (B, N, K, A)  W2 v, computed once per image (None: coarse-only)
    fine_mask: torch.Tensor       # (B, N, K) bool: real (not padding) fine positions
    coarse: torch.Tensor | None = None       # (B, N, Dc)
    coarse_proj: torch.Tensor | None = None  # (B, N, A)
    # Constant over the decoding steps, so counted once per image instead of at every step.
    valid: torch.Tensor | None = None        # (B, N) float: real positions per cell
    unpadded: bool = False        # no cell holds padding, so the fine softmax needs no mask

    def __post_init__(self) -> None:
        if self.valid is None:
            self.valid = self.fine_mask.sum(dim=2).float()

    def index_select(self, idx: torch.Tensor) -> "Memory":
        pick = lambda t: None if t is None else t.index_select(0, idx)  # noqa: E731
        return Memory(pick(self.fine), pick(self.fine_proj), pick(self.fine_mask), pick(self.coarse),
                      pick(self.coarse_proj), pick(self.valid), self.unpadded)


@dataclass
class DecoderState:
    h: torch.Tensor   # (B, decoder_hidden)
    c: torch.Tensor
    o: torch.Tensor   # (B, decoder_hidden) the previous output o_{t-1}, fed back (input feeding)

    def index_select(self, idx: torch.Tensor) -> "DecoderState":
        return DecoderState(self.h.index_select(0, idx), self.c.index_select(0, idx), self.o.index_select(0, idx))


@dataclass
class StepInfo:
    """Per-row attention facts of one decoding step. The lookup counts are None when the step
    was asked not to count them (training, which never reads them)."""

    coarse_lookups: torch.Tensor | None      # (B,) coarse cells scored
    fine_lookups: torch.Tensor | None        # (B,) fine positions scored
    coarse_logp: torch.Tensor | None = None  # (B,) log-prob of the sampled cell (c2f-hard, training)
    coarse_weights: torch.Tensor | None = None  # (B, N)
    fine_weights: torch.Tensor | None = None    # (B, N, K) overall weight of each fine position


def to_cells(v: torch.Tensor, cell: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H', W', D) -> cells (B, Hc*Wc, cell*cell, D) and their validity mask (B, N, K).

    The grid is padded to a multiple of ``cell``; padding positions are masked out. With ceil
    division every cell holds at least one real position, so no softmax is over an empty set.
    """
    b, h, w, d = v.shape
    hc, wc = math.ceil(h / cell), math.ceil(w / cell)
    mask = torch.zeros(b, hc * cell, wc * cell, dtype=torch.bool, device=v.device)
    mask[:, :h, :w] = True
    v = F.pad(v, (0, 0, 0, wc * cell - w, 0, hc * cell - h))
    v = v.view(b, hc, cell, wc, cell, d).permute(0, 1, 3, 2, 4, 5).reshape(b, hc * wc, cell * cell, d)
    mask = mask.view(b, hc, cell, wc, cell).permute(0, 1, 3, 2, 4).reshape(b, hc * wc, cell * cell)
    return v, mask


class Im2Tex(nn.Module):
    def __init__(self, cfg: Im2TexConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= 4:
            raise ValueError("vocab_size must be set (the vocabulary plus 4 special tokens)")
        self.cfg = cfg
        d, a, hd = cfg.feature_size, cfg.attention_hidden, cfg.decoder_hidden
        self.cnn = CNN(cfg.cnn_channels)
        # Coarse-only attention never reads fine features, so it has no fine row encoder.
        fine_encoder = cfg.row_encoder and cfg.attention != "coarse"
        self.encoder = RowEncoder(cfg.cnn_channels[-1], cfg.encoder_hidden, cfg.max_rows,
                                  cfg.pos_embed) if fine_encoder else None
        if cfg.hierarchical:
            cc = cfg.coarse_channels
            self.coarse_cnn = nn.Sequential(*conv(cfg.cnn_channels[-1], cc, False), *conv(cc, cc, False),
                                            nn.MaxPool2d(CELL, CELL, ceil_mode=True))
            self.coarse_encoder = RowEncoder(cc, cfg.encoder_hidden, cfg.max_rows,
                                             cfg.pos_embed) if cfg.row_encoder else None
            dc = 2 * cfg.encoder_hidden if cfg.row_encoder else cc
            self.coarse_key = nn.Linear(dc, a)            # W2' v'
            self.coarse_query = nn.Linear(hd, a, bias=False)  # W1' h
            self.coarse_beta = nn.Linear(a, 1, bias=False)
        if cfg.attention == "coarse":
            d = 2 * cfg.encoder_hidden if cfg.row_encoder else cfg.coarse_channels
        else:
            self.fine_key = nn.Linear(d, a)               # W2 v
            self.fine_query = nn.Linear(hd, a, bias=False)    # W1 h
            self.fine_beta = nn.Linear(a, 1, bias=False)
        self.context_size = d
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed)
        self.lstm = nn.LSTMCell(cfg.embed + hd, hd)        # input feeding: [y_{t-1}; o_{t-1}]
        self.combine = nn.Linear(hd + d, hd, bias=False)   # o_t = tanh(W_c [h_t; c_t])
        self.generator = nn.Linear(hd, cfg.vocab_size)
        # REINFORCE moving-average baseline of the return (c2f-hard); a buffer, so checkpointed.
        self.register_buffer("reward_baseline", torch.zeros(()))
        # Not a setting of the model: how its recurrent state is computed under autocast.
        self.fp32_state = True

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, images: torch.Tensor) -> Memory:
        """uint8 images (B, 1, H, W), 255 = white -> attention memory."""
        x = images.float()
        b, _, h, w = x.shape
        # Sizes below 8 (or not multiples of 8) lose rows/columns in the floor poolings; pad white.
        ph, pw = (-h) % 8 + max(0, 8 - h), (-w) % 8 + max(0, 8 - w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), value=255.0)
        x = (255.0 - x) / 255.0  # ink -> 1, paper -> 0: the mostly-white background feeds zeros
        feats = self.cnn(x)                                                    # (B, C, H', W')
        coarse = coarse_proj = None
        if self.cfg.hierarchical:
            cf = self.coarse_cnn(feats)                                        # (B, Cc, Hc, Wc)
            cv = self.coarse_encoder(cf) if self.coarse_encoder is not None else cf.permute(0, 2, 3, 1)
            coarse = cv.reshape(b, -1, cv.size(-1))                            # (B, N, Dc)
            coarse_proj = self.coarse_key(coarse)
        if self.cfg.attention == "coarse":
            # Coarse-only: the coarse features are the memory; no fine lookups at all.
            cells = coarse[:, :, None, :]
            return Memory(cells, None, torch.ones(cells.shape[:3], dtype=torch.bool,
                          device=cells.device), coarse, coarse_proj, unpadded=True)
        fine = self.encoder(feats) if self.encoder is not None else feats.permute(0, 2, 3, 1)  # (B, H', W', D)
        if self.cfg.attention == "standard":
            cells = fine.reshape(b, 1, -1, fine.size(-1))                      # (B, 1, H'W', D)
            mask = torch.ones(cells.shape[:3], dtype=torch.bool, device=cells.device)
            full = True
        else:
            cells, mask = to_cells(fine, CELL)                                 # (B, N, 16, D)
            full = fine.size(1) % CELL == 0 and fine.size(2) % CELL == 0
        return Memory(cells, self.fine_key(cells), mask, coarse, coarse_proj, unpadded=full)

    # -- one decoding step ------------------------------------------------------------------

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype = torch.float32) -> DecoderState:
        z = torch.zeros(batch_size, self.cfg.decoder_hidden, device=device, dtype=dtype)
        return DecoderState(z, z.clone(), z.clone())

    def attend(self, h: torch.Tensor, mem: Memory, count: bool = True) -> tuple[torch.Tensor, StepInfo]:
        """Context vector (B, D) for decoder state h (B, hd), by the configured variant.

        ``count`` fills the lookup counters of Table 4; training passes False and skips them.
        """
        cfg = self.cfg
        b, n, k = mem.fine_mask.shape
        valid = mem.valid                                                      # (B, N) real positions per cell
        zeros = torch.zeros(b, device=h.device) if count else None
        if not cfg.hierarchical:
            w = self._fine_softmax(h, mem.fine_proj, None if mem.unpadded else mem.fine_mask)  # (B, 1, K)
            ctx = torch.einsum("bnk,bnkd->bd", w.to(mem.fine.dtype), mem.fine)
            return ctx, StepInfo(zeros, valid.sum(1) if count else None, fine_weights=w)
        e = self.coarse_beta(torch.tanh(self.coarse_query(h)[:, None] + mem.coarse_proj)).squeeze(-1).float()  # (B, N)
        n_coarse = torch.full((b,), float(n), device=h.device) if count else None
        if cfg.attention == "coarse":
            a = e.softmax(-1)
            ctx = torch.einsum("bn,bnd->bd", a.to(mem.coarse.dtype), mem.coarse)
            return ctx, StepInfo(n_coarse, zeros, coarse_weights=a)
        if cfg.attention == "c2f-hard":
            logp = e.log_softmax(-1)
            if self.training:
                z = torch.multinomial(logp.exp(), 1).squeeze(1)               # sample one cell
            else:
                z = logp.argmax(-1)                                            # argmax at test time
            rows = torch.arange(b, device=h.device)
            # Only the chosen cell's fine features are read: gather K positions, not N*K.
            proj, fine, mask = mem.fine_proj[rows, z], mem.fine[rows, z], mem.fine_mask[rows, z]  # (B, K, .)
            w = self._fine_softmax(h, proj[:, None], mask[:, None]).squeeze(1)  # (B, K)
            ctx = torch.einsum("bk,bkd->bd", w.to(fine.dtype), fine)
            return ctx, StepInfo(n_coarse, valid[rows, z] if count else None, coarse_logp=logp[rows, z],
                                 coarse_weights=F.one_hot(z, n).float())
        a = e.softmax(-1) if cfg.attention == "hierarchical" else sparsemax(e)  # (B, N)
        local = self._fine_softmax(h, mem.fine_proj, None if mem.unpadded else mem.fine_mask)  # (B, N, K)
        w = a[:, :, None] * local
        ctx = torch.einsum("bnk,bnkd->bd", w.to(mem.fine.dtype), mem.fine)
        # Sparsemax reads fine features only inside cells with non-zero weight; computing the
        # others and multiplying by 0 gives the same context, so lookups are counted, not skipped.
        fine_lookups = (valid * (a > 0)).sum(1) if count else None
        return ctx, StepInfo(n_coarse, fine_lookups, coarse_weights=a, fine_weights=w)

    def _fine_softmax(self, h: torch.Tensor, proj: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Softmax of beta^T tanh(W1 h + W2 v) over the K positions of each cell: (B, N, K).
        ``mask`` None: every position is real (no padding to mask)."""
        q = self.fine_query(h)[:, None, None, :]                               # (B, 1, 1, A)
        e = self.fine_beta(torch.tanh(q + proj)).squeeze(-1).float()          # (B, N, K)
        if mask is not None:
            e = e.masked_fill(~mask, float("-inf"))
        return e.softmax(-1)

    def advance(self, emb: torch.Tensor, state: DecoderState, mem: Memory,
                count: bool = True) -> tuple[DecoderState, StepInfo]:
        """The recurrent part of a step: embedded previous tokens (B, E) -> new state (its ``o``
        is what the generator reads). Split from the generator so teacher forcing can project
        all steps' outputs with one matrix product."""
        x = torch.cat([emb, state.o.to(emb.dtype)], dim=1)
        if self.fp32_state:
            # Under bf16 autocast the cell would return h and c in bf16, and c is a running sum
            # carried over up to 150 steps: its rounding drifts (benchmarks/bf16_drift.py). The
            # cell's matrix products are small, so keeping it in fp32 costs little.
            with torch.autocast(x.device.type, enabled=False):
                h, c = self.lstm(x.float(), (state.h.float(), state.c.float()))
        else:
            h, c = self.lstm(x, (state.h, state.c))
        if mem is None:  # LSTM-LM: no image, the context is zero
            ctx, info = h.new_zeros(h.size(0), self.context_size), StepInfo(None, None)
        else:
            ctx, info = self.attend(h, mem, count)
        o = torch.tanh(self.combine(torch.cat([h, ctx.to(h.dtype)], dim=1)))
        return DecoderState(h, c, o), info

    def step(self, y_prev: torch.Tensor, state: DecoderState, mem: Memory) -> tuple[torch.Tensor, DecoderState, StepInfo]:
        """One decoder step: previous token ids (B,) -> logits (B, V), new state, attention facts."""
        state, info = self.advance(self.embed(y_prev), state, mem)
        return self.generator(state.o), state, info

    # -- training ---------------------------------------------------------------------------

    def forward(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, list[StepInfo]]:
        """Teacher-forced logits (B, T-1, V) for targets (B, T) = <s> y_1 .. y_n </s> <pad>..."""
        mem = self.encode(images) if self.cfg.image else None
        state = self.init_state(targets.size(0), images.device)
        emb = self.embed(targets[:, :-1])                                      # (B, T-1, E), all steps at once
        outs, infos = [], []
        for t in range(targets.size(1) - 1):
            state, info = self.advance(emb[:, t], state, mem, count=False)
            outs.append(state.o)
            infos.append(info)
        return self.generator(torch.stack(outs, dim=1)), infos

    def training_loss(self, batch: Batch) -> LossParts:
        """Summed token NLL per formula (im2markup's normalisation), plus REINFORCE for c2f-hard."""
        logits, infos = self(batch.images, batch.targets)
        tok_logp, mask = token_logprobs(logits, batch.targets)
        nll = -tok_logp.sum()
        b = batch.targets.size(0)
        loss = nll / b
        if self.cfg.attention == "c2f-hard" and self.training:
            loss = loss + self._reinforce(tok_logp.detach(), mask, infos) / b
        return LossParts(loss, nll.detach(), mask.sum())

    @torch.no_grad()
    def sequence_logprob(self, batch: Batch) -> torch.Tensor:
        """log p(gold formula | image) per image (B,), ``</s>`` included (im2markup's gold score)."""
        logits, _ = self(batch.images, batch.targets)
        return token_logprobs(logits, batch.targets)[0].sum(1)

    def _reinforce(self, reward: torch.Tensor, mask: torch.Tensor, infos: list[StepInfo]) -> torch.Tensor:
        """Policy-gradient surrogate for the sampled coarse cells.

        Reward r_t = log p(y_t) of the emitted gold token; return R_t = sum_{k>=t} discount^(k-t) r_k
        within the formula; advantage = R_t - b with b a moving average of R (rate 0.01).
        """
        cfg = self.cfg
        ret = torch.zeros_like(reward)
        running = torch.zeros_like(reward[:, 0])
        for t in range(reward.size(1) - 1, -1, -1):
            running = (reward[:, t] + cfg.discount * running) * mask[:, t]
            ret[:, t] = running
        logp = torch.stack([i.coarse_logp for i in infos], dim=1)             # (B, T-1)
        adv = (ret - self.reward_baseline) * mask
        with torch.no_grad():
            mean_ret = ret[mask].mean() if mask.any() else self.reward_baseline
            self.reward_baseline.mul_(1 - cfg.baseline_rate).add_(cfg.baseline_rate * mean_ret)
        return -(adv.detach() * logp * mask).sum()


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(y_t) of each gold token (B, T-1), zero at padding, and the padding mask."""
    gold = targets[:, 1:]
    mask = gold != Vocabulary.pad_id
    logp = -F.cross_entropy(logits.float().transpose(1, 2), gold, reduction="none")
    return logp * mask, mask


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
