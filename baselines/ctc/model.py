"""CRNN (Shi, Bai & Yao, TPAMI 2016) for image-to-LaTeX: CNN -> width sequence -> BiLSTM -> CTC.

The paper's CTC row (Deng et al. 2017, Table 2) is this model: it reads the formula as a single
left-to-right sequence, so it cannot represent fractions or scripts well; that is the point of the
comparison. Shapes: B batch, T time steps (image width / 4, times ``slots``), V vocabulary + blank.

Two departures from the text-line CRNN, both because formula images are not 32-pixel text lines:
the height is collapsed by a max over rows instead of fixing the input height, and each time step
emits ``slots`` symbols (default 2): normalized LaTeX has more tokens than glyphs (braces, ``^``,
``_``), and CTC needs at least as many steps as target tokens plus repeats.
"""

from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from markupeval.baselines.common.data import Batch, Vocabulary
from markupeval.baselines.common.train import LossParts
from markupeval.baselines.ctc.config import CTCConfig

BLANK = Vocabulary.pad_id  # <pad> is never a target token, so it doubles as the CTC blank


def block(cin: int, cout: int, bn: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, 1, 1)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.ReLU(inplace=True)]


class CRNN(nn.Module):
    def __init__(self, cfg: CTCConfig) -> None:
        super().__init__()
        if cfg.vocab_size <= 4:
            raise ValueError("vocab_size must be set (the vocabulary plus 4 special tokens)")
        self.cfg = cfg
        ch = cfg.cnn_channels
        # CRNN's CNN: after two 2x2 pools, pool height only, so the width keeps a stride of 4.
        self.cnn = nn.Sequential(
            *block(1, ch[0], False), nn.MaxPool2d(2, 2),
            *block(ch[0], ch[1], False), nn.MaxPool2d(2, 2),
            *block(ch[1], ch[2], True), *block(ch[2], ch[3], False), nn.MaxPool2d((2, 1), (2, 1)),
            *block(ch[3], ch[4], True), *block(ch[4], ch[5], True), nn.MaxPool2d((2, 1), (2, 1)),
        )
        self.rnn = nn.LSTM(ch[5], cfg.lstm_hidden, num_layers=cfg.lstm_layers, bidirectional=True, batch_first=True)
        self.out = nn.Linear(2 * cfg.lstm_hidden, cfg.slots * cfg.vocab_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (B, 1, H, W) -> log-probabilities (B, T, V) with T = slots * ceil(W/4)."""
        x = images.float()
        h, w = x.shape[2:]
        ph, pw = (-h) % 16 + max(0, 16 - h), (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), value=255.0)
        x = (255.0 - x) / 255.0  # ink -> 1, paper -> 0: the mostly-white background feeds zeros
        f = self.cnn(x).amax(dim=2).transpose(1, 2)                 # (B, W/4, C): collapse height
        seq, _ = self.rnn(f)                                          # (B, W/4, 2*hidden)
        b, t, _ = seq.shape
        logits = self.out(seq).view(b, t * self.cfg.slots, self.cfg.vocab_size)
        return logits.float().log_softmax(-1)

    def training_loss(self, batch: Batch) -> LossParts:
        """CTC loss summed over the batch, divided by its size (as IM2TEX's NLL).

        Targets are the formula tokens without ``<s>``/``</s>``. A formula with more tokens (plus
        repeats) than the image has time steps cannot be aligned: its loss is infinite, which
        ``zero_infinity`` turns into 0 so it gives no gradient. Such formulas are rare with two
        slots per step (T = image width / 2), and the predictor still decodes them.
        """
        loss = self._ctc(batch, "sum")
        b = batch.targets.size(0)
        # Detached tensors, not Python numbers: reading them would wait for the device every step.
        return LossParts(loss / b, loss.detach(), batch.lengths.sum())

    @torch.no_grad()
    def sequence_logprob(self, batch: Batch) -> torch.Tensor:
        """log p(gold | image) per image (B,): minus the CTC loss, -inf where no alignment exists."""
        return -self._ctc(batch, "none", zero_infinity=False)

    def _ctc(self, batch: Batch, reduction: str, zero_infinity: bool = True) -> torch.Tensor:
        logp = self(batch.images)                                     # (B, T, V)
        b, t, _ = logp.shape
        tgt, lengths = batch.targets[:, 1:], batch.lengths
        # Each row's first lengths[i] tokens, concatenated, by a mask: no per-row read of lengths.
        keep = torch.arange(tgt.size(1), device=tgt.device)[None, :] < lengths[:, None]
        flat = tgt[keep]
        return F.ctc_loss(logp.transpose(0, 1), flat, torch.full((b,), t, dtype=torch.long, device=logp.device),
                          lengths, blank=BLANK, reduction=reduction, zero_infinity=zero_infinity)
