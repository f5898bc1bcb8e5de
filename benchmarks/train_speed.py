"""Training and beam-decoding throughput of the neural baselines, in images per second.

For each baseline and size it times training steps (forward, backward, clipped optimiser step) and
beam-5 decoding on real batches when ``--data`` names a dataset directory (the most common image
buckets of its training split), else on random images of a typical bucket size. Each setting is
printed as a ratio against the plain fp32 eager setting measured in the same run, so the figures
stay comparable on a busy machine; settings are interleaved round by round for the same reason.

    python benchmarks/train_speed.py --data data/reference/real --device cpu --threads 2
    python benchmarks/train_speed.py --device cuda --sizes paper --settings fp32,bf16 --json out.json

Settings: ``fp32`` (reference), ``bf16`` (autocast: CUDA, or oneDNN on CPUs with AVX-512 BF16 /
AMX), ``channels_last`` (the CNN in NHWC), ``compile`` (``torch.compile`` of the training loss;
slow to start, so only where asked for).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markupeval.baselines.common.data import Batch, ImageSet, bucket_batches, collate  # noqa: E402
from markupeval.data import Im2LatexDataset  # noqa: E402


def real_batches(root: Path, batch_size: int, n: int) -> list[Batch]:
    """``n`` full batches from the most populated buckets of a dataset's training split."""
    ds = Im2LatexDataset(root, "train")
    items = ds.items
    sizes = Counter(ds.image_size(it.name) for it in items)
    common = {s for s, _ in sizes.most_common(6)}
    chosen = [i for i, it in enumerate(items) if ds.image_size(it.name) in common][: 40 * batch_size]
    sub = ImageSet([f"{items[i].name}.png" for i in chosen], [items[i].tokens for i in chosen],
                   lambda j: ds.load_image(items[chosen[j]].name), ds.vocab)
    plan = [b for b in bucket_batches(sub.sizes, batch_size, shuffle=True, seed=0) if len(b) == batch_size]
    # The module-level collate (not the set's loader), so this script also times older versions.
    return [collate([sub.images[j] for j in b], [sub.tokens[j] for j in b], [sub.names[j] for j in b], sub.vocab)
            for b in plan[:n]], len(ds.vocab)


def random_batches(batch_size: int, n: int, vocab: int = 380) -> tuple[list[Batch], int]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        h, w, t = 40, 200, 48  # a typical processed bucket (80 x 400 before downsampling) and length
        imgs = torch.full((batch_size, 1, h, w), 255, dtype=torch.uint8)
        imgs[:, :, 8:32, 8:190] = torch.randint(0, 256, (batch_size, 1, 24, 182), generator=g, dtype=torch.uint8)
        tgt = torch.randint(4, vocab, (batch_size, t + 2), generator=g)
        tgt[:, 0], tgt[:, -1] = 1, 2
        out.append(Batch(imgs, tgt, torch.full((batch_size,), t), ["x.png"] * batch_size))
    return out, vocab


def build(kind: str, size: str, vocab: int):
    # Seeded: an untrained decoder's output length (when it happens to emit </s>) sets the decoding
    # cost, so every setting and every code version must decode with the same weights.
    torch.manual_seed(0)
    if kind == "im2tex":
        from markupeval.baselines.im2tex.cli import spec
        from markupeval.baselines.im2tex.config import build_config
        cfg = build_config("standard", size, vocab_size=vocab)
    else:
        from markupeval.baselines.ctc.cli import spec
        from markupeval.baselines.ctc.config import build_config
        cfg = build_config(size, vocab_size=vocab)
    s = spec()
    return s, s.model_cls(cfg)


def autocast(device: torch.device, on: bool):
    if not on:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def distinct_shapes(batches: list[Batch]) -> list[Batch]:
    """One batch per image shape: a first call on a new shape pays one-time costs (kernel
    selection, primitive creation) that must not land in the timed loop."""
    seen: dict[tuple[int, ...], Batch] = {}
    for b in batches:
        seen.setdefault(tuple(b.images.shape) + tuple(b.targets.shape), b)
    return list(seen.values())


def time_train(model, batches, device, setting, steps) -> float:
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = model.training_loss
    if setting == "compile":
        loss_fn = torch.compile(model.training_loss, dynamic=True)
    bf16 = setting == "bf16"

    def one(b: Batch) -> None:
        with autocast(device, bf16):
            parts = loss_fn(b)
        opt.zero_grad(set_to_none=True)
        parts.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 20.0)
        opt.step()

    dev_batches = [b.to(device) for b in batches[:steps]]
    for b in distinct_shapes(dev_batches):  # warm-up: allocator, oneDNN primitives, cuDNN autotuning, compilation
        one(b)
    sync(device)
    t0 = time.perf_counter()
    n = 0
    for i in range(steps):
        b = dev_batches[i % len(dev_batches)]
        one(b)
        n += b.images.size(0)
    sync(device)
    return n / (time.perf_counter() - t0)


@torch.no_grad()
def time_decode(spec, model, batches, device, setting, beam, max_len, n_batches) -> float:
    model.eval()
    bf16 = setting == "bf16"
    dev_batches = [b.to(device) for b in batches[:n_batches]]
    for b in distinct_shapes(dev_batches):
        with autocast(device, bf16):
            spec.decode(model, b.images, beam, max_len)
    sync(device)
    t0 = time.perf_counter()
    n = 0
    for b in dev_batches:
        with autocast(device, bf16):
            spec.decode(model, b.images, beam, max_len)
        n += b.images.size(0)
    sync(device)
    return n / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="dataset directory (real batches); default random images")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--models", default="im2tex,ctc")
    ap.add_argument("--sizes", default="small,paper")
    ap.add_argument("--settings", default="fp32,bf16,channels_last")
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--decode-batch-size", type=int, default=None, help="default: --batch-size")
    ap.add_argument("--steps", type=int, default=6, help="timed training steps per round")
    ap.add_argument("--decode-batches", type=int, default=2)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--max-len", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2, help="settings are interleaved; the median round is kept")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dbs = args.decode_batch_size or args.batch_size
    n_needed = max(args.steps, args.decode_batches) + 2
    if args.data:
        batches, vocab = real_batches(args.data, args.batch_size, n_needed)
        dec_batches = batches if dbs == args.batch_size else real_batches(args.data, dbs, args.decode_batches + 1)[0]
    else:
        batches, vocab = random_batches(args.batch_size, n_needed)
        dec_batches = batches if dbs == args.batch_size else random_batches(dbs, args.decode_batches + 1)[0]
    settings = args.settings.split(",")
    results = []
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {where}; batches of {args.batch_size} ({'real: ' + str(args.data) if args.data else 'random'}); "
          f"torch {torch.__version__}")
    for kind in args.models.split(","):
        for size in args.sizes.split(","):
            spec, base = build(kind, size, vocab)
            state = {k: v.clone() for k, v in base.state_dict().items()}
            runs: dict[str, dict[str, list[float]]] = {s: {"train": [], "decode": []} for s in settings}
            for _ in range(args.rounds):
                for setting in settings:
                    _, model = build(kind, size, vocab)
                    model.load_state_dict(state)
                    model.to(device)
                    if setting == "channels_last":
                        model = model.to(memory_format=torch.channels_last)
                    runs[setting]["train"].append(time_train(model, batches, device, setting, args.steps))
                    if setting != "compile":
                        runs[setting]["decode"].append(time_decode(spec, model, dec_batches, device, setting,
                                                                   args.beam, args.max_len, args.decode_batches))
            ref_t = statistics.median(runs[settings[0]]["train"])
            ref_d = statistics.median(runs[settings[0]]["decode"]) if runs[settings[0]]["decode"] else None
            for setting in settings:
                tr = statistics.median(runs[setting]["train"])
                de = statistics.median(runs[setting]["decode"]) if runs[setting]["decode"] else float("nan")
                row = {"model": kind, "size": size, "setting": setting, "device": where,
                       "train_img_s": round(tr, 2), "decode_img_s": round(de, 2),
                       "train_ratio": round(tr / ref_t, 3), "decode_ratio": round(de / ref_d, 3) if ref_d else None}
                results.append(row)
                print(f"{kind:7s} {size:6s} {setting:14s} train {tr:8.2f} img/s ({tr / ref_t:5.2f}x {settings[0]})   "
                      f"beam-{args.beam} decode {de:8.2f} img/s"
                      + (f" ({de / ref_d:5.2f}x {settings[0]})" if ref_d and not np.isnan(de) else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": where, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
