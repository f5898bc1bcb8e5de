"""How far IM2TEX's bf16 autocast drifts from fp32 over long decoder runs, with and without an
fp32 LSTM state.

Under autocast the decoder cell would return its hidden and cell states in bf16; the cell state
is a running sum carried over up to 150 steps, so its rounding can accumulate. This teacher-forces
the same weights and batch three ways (fp32; bf16 with the state kept fp32, the default; bf16
with the state in bf16) and prints the mean and largest difference of per-token log-probabilities
from fp32, by step range, plus how often the argmax token differs, as a ratio of bf16-state to
fp32-state drift measured in the same run.

    python benchmarks/bf16_drift.py --checkpoint runs/ref/im2tex-small/best.pt --data data/reference/real
    python benchmarks/bf16_drift.py --device cuda     # random weights and images when nothing is given
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markupeval.baselines.common.data import Batch, ImageSet, bucket_batches  # noqa: E402
from markupeval.baselines.im2tex.config import build_config  # noqa: E402
from markupeval.baselines.im2tex.model import Im2Tex, token_logprobs  # noqa: E402


def long_batch(data: Path | None, vocab_size: int, b: int) -> Batch:
    """The validation formulas with the most tokens (drift shows at late steps), or random ones."""
    if data is not None:
        from markupeval.data import Im2LatexDataset
        ds = Im2LatexDataset(data, "validate")
        items = sorted(ds.items, key=lambda it: -len(it.tokens))[: 8 * b]
        s = ImageSet([f"{it.name}.png" for it in items], [it.tokens for it in items],
                     lambda i: ds.load_image(items[i].name), ds.vocab)
        plan = max(bucket_batches(s.sizes, b, shuffle=False), key=len)
        return s.collate(plan)
    g = torch.Generator().manual_seed(0)
    images = torch.full((b, 1, 64, 320), 255, dtype=torch.uint8)
    images[:, :, 8:56, 8:310] = torch.randint(0, 256, (b, 1, 48, 302), dtype=torch.uint8, generator=g)
    t = 150
    targets = torch.randint(4, vocab_size, (b, t + 2), generator=g)
    targets[:, 0], targets[:, -1] = 1, 2
    return Batch(images, targets, torch.full((b,), t), ["x.png"] * b)


@torch.no_grad()
def logprobs(model: Im2Tex, batch: Batch, device: torch.device, bf16: bool, fp32_state: bool):
    model.fp32_state = fp32_state
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else torch.autocast(device.type, enabled=False)
    with ctx:
        logits, _ = model(batch.images.to(device), batch.targets.to(device))
    lp, mask = token_logprobs(logits.float(), batch.targets.to(device))
    return lp, mask, logits.float().argmax(-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.checkpoint:
        from markupeval.baselines.common.commands import load_model
        from markupeval.baselines.im2tex.cli import spec
        model, vocab, _ = load_model(args.checkpoint, spec(), device)
        vocab_size = len(vocab)
    else:
        torch.manual_seed(0)
        vocab_size = 380
        model = Im2Tex(build_config("standard", "small", vocab_size=vocab_size)).to(device).eval()
    batch = long_batch(args.data, vocab_size, args.batch_size)
    ref, mask, ref_arg = logprobs(model, batch, device, bf16=False, fp32_state=True)
    t = mask.size(1)
    ranges = [(0, 10), (10, 50), (50, 100), (100, t)]
    print(f"{device}; batch {tuple(batch.images.shape)}, {t} decoder steps, "
          f"{'checkpoint ' + str(args.checkpoint) if args.checkpoint else 'random weights'}")
    drift = {}
    for name, fp32_state in (("bf16, fp32 state", True), ("bf16, bf16 state", False)):
        lp, _, arg = logprobs(model, batch, device, bf16=True, fp32_state=fp32_state)
        d = (lp - ref).abs()
        parts = []
        for a, b in ranges:
            m = mask[:, a:b]
            if m.any():
                parts.append(f"steps {a + 1}-{b}: mean {d[:, a:b][m].mean():.4f} max {d[:, a:b][m].max():.3f}")
        flips = ((arg != ref_arg) & mask).sum().item() / max(mask.sum().item(), 1)
        drift[name] = d[mask].mean().item()
        print(f"{name:17s} | " + " | ".join(parts) + f" | argmax differs {100 * flips:.2f} %")
    model.fp32_state = True
    ratio = drift["bf16, bf16 state"] / max(drift["bf16, fp32 state"], 1e-12)
    print(f"mean |log-prob drift| with a bf16 state is {ratio:.2f}x that with the fp32 state")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
