"""CTC prefix beam search: the batched torch search against the plain-Python reference, same run.

Inputs are shaped like the CTC baseline's output on the test set: a batch of B images of one
processed width W (200..500 px), T = 2 * ceil(W / 4) steps, V symbols, blank-heavy log-probabilities
(float32, as the model emits). Both searches get the same batches; the script checks that they agree
and prints ms per image for each and the speedup.

    python benchmarks/ctc_decode_speed.py --batches 3 --batch-size 20 --device cpu
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from markupeval.baselines.ctc.decode import prefix_beam_batch, prefix_beam_reference


def fake_logp(rng: np.random.Generator, b: int, t: int, v: int) -> np.ndarray:
    logits = rng.normal(size=(b, t, v)) * 3.0
    logits[..., 0] += 5.0  # blank most of the time, as a trained CTC model
    return (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=320)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reference-images", type=int, default=6, help="images per batch the slow reference decodes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    rng = np.random.default_rng(0)
    widths = rng.integers(200, 501, size=args.batches)
    fast_s = ref_s = 0.0
    fast_n = ref_n = 0
    prefix_beam_batch(torch.tensor(fake_logp(rng, 2, 8, args.vocab), device=dev), beam=args.beam)  # warm-up
    for w in widths:
        t = 2 * math.ceil(int(w) / 4)
        lp = fake_logp(rng, args.batch_size, t, args.vocab)
        x = torch.tensor(lp, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        ids, scores = prefix_beam_batch(x, beam=args.beam)
        fast_s += time.perf_counter() - t0
        fast_n += len(ids)
        for i in range(min(args.reference_images, args.batch_size)):
            t0 = time.perf_counter()
            ref_ids, ref_score = prefix_beam_reference(lp[i], beam=args.beam)
            ref_s += time.perf_counter() - t0
            ref_n += 1
            if ref_ids != ids[i] or abs(ref_score - scores[i]) > 1e-6:
                raise SystemExit(f"batched and reference searches differ on image {i} of width {w}")
    fast, ref = 1e3 * fast_s / fast_n, 1e3 * ref_s / ref_n
    print(f"shapes: {args.batches} batches of B={args.batch_size}, W in {sorted(int(w) for w in widths)} "
          f"(T = 2*ceil(W/4)), V={args.vocab}, beam {args.beam}, device {dev}, threads {args.threads}")
    print(f"reference (Python): {ref:8.2f} ms/image ({ref_n} images)")
    print(f"batched (torch):    {fast:8.2f} ms/image ({fast_n} images)")
    print(f"speedup: {ref / fast:.1f}x; outputs identical on the {ref_n} images both decoded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
