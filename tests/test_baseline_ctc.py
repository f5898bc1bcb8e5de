"""CTC (CRNN) baseline: decoding by hand and by brute force, shapes, learning on rendered formulas."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the baselines extra (torch) is not installed")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from markupeval.baselines.common.data import Batch  # noqa: E402
from markupeval.baselines.ctc.config import build_config  # noqa: E402
from markupeval.baselines.ctc.decode import (  # noqa: E402
    collapse, greedy, prefix_beam, prefix_beam_batch, prefix_beam_reference)
from markupeval.baselines.ctc.model import BLANK, CRNN  # noqa: E402
from markupeval.cli import main  # noqa: E402

B = BLANK  # 0


@pytest.mark.parametrize("path, labels", [
    ([], []),
    ([B, B, B], []),
    ([5, 5, 5], [5]),                      # a run is one symbol
    ([5, B, 5], [5, 5]),                   # a blank separates two equal symbols
    ([5, 5, B, 5, 6, 6, B, B, 7], [5, 5, 6, 7]),
    ([B, 5, B, B, 6, B], [5, 6]),
    ([5, 6, 5, 6], [5, 6, 5, 6]),
])
def test_collapse_merges_repeats_then_removes_blanks(path, labels):
    assert collapse(path) == labels


def one_hot_logp(path: list[int], v: int = 8) -> np.ndarray:
    lp = np.full((len(path), v), math.log(1e-4))
    for t, s in enumerate(path):
        lp[t, s] = math.log(1 - 1e-4 * (v - 1))
    return lp


def test_greedy_is_the_collapsed_best_path():
    assert greedy(one_hot_logp([5, 5, B, 5, 6, B])) == [5, 5, 6]


def test_prefix_beam_sums_paths_where_greedy_takes_one():
    """Two steps, p(blank) = 0.6, p(a) = 0.4: the best path is "--" (0.36, labelling ""), but
    "a" has 0.24 + 0.24 + 0.16 = 0.64."""
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy(lp) == []
    assert prefix_beam(lp, beam=4) == [1]


def brute_force_best_labelling(lp: np.ndarray) -> tuple[int, ...]:
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        p = math.exp(sum(lp[t, s] for t, s in enumerate(path)))
        key = tuple(collapse(list(path)))
        totals[key] = totals.get(key, 0.0) + p
    return max(totals, key=totals.get)


@pytest.mark.parametrize("search", [prefix_beam, lambda lp, beam: prefix_beam_reference(lp, beam)[0]])
def test_prefix_beam_finds_the_most_probable_labelling(search):
    rng = np.random.default_rng(0)
    for _ in range(30):
        logits = rng.normal(size=(5, 3)) * 2
        lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        assert tuple(search(lp, beam=50)) == brute_force_best_labelling(lp)


def random_logp(rng: np.random.Generator, shape: tuple[int, ...], ties: bool) -> np.ndarray:
    logits = rng.normal(size=shape) * rng.choice([0.5, 2.0, 5.0])
    if ties:  # integer logits: equal symbols within a step, and equal totals across prefixes
        logits = np.round(logits)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def test_batched_prefix_beam_equals_the_reference_search():
    """Beam widths, pruning (also below the vocabulary, and to one symbol), ties, per-image lengths
    and empty inputs: the same labelling and the same score as the plain-Python search."""
    rng = np.random.default_rng(0)
    checked = 0
    for trial in range(250):
        b, t, v = int(rng.integers(1, 5)), int(rng.integers(0, 12)), int(rng.integers(2, 7))
        beam, prune = int(rng.integers(1, 7)), int(rng.integers(1, 8))
        lp = random_logp(rng, (b, t, v), ties=trial % 3 == 0)
        lengths = rng.integers(0, t + 1, size=b) if trial % 2 else np.full(b, t)
        ids, scores = prefix_beam_batch(torch.tensor(lp), torch.tensor(lengths), beam=beam, prune=prune)
        for i in range(b):
            ref_ids, ref_score = prefix_beam_reference(lp[i, : lengths[i]], beam=beam, prune=prune)
            assert (trial, i, ids[i]) == (trial, i, ref_ids)
            assert scores[i] == pytest.approx(ref_score, abs=1e-9)
            checked += 1
    assert checked > 500


def test_batched_prefix_beam_on_model_sized_inputs():
    """A blank-heavy (B, T, V) = (3, 60, 40) float32 batch, as the model emits, with the defaults."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 60, 40)) * 3
    logits[..., B] += 3
    lp = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)
    ids, scores = prefix_beam_batch(torch.tensor(lp))
    for i in range(3):
        ref_ids, ref_score = prefix_beam_reference(lp[i])
        assert ids[i] == ref_ids and len(ids[i]) > 10
        assert scores[i] == pytest.approx(ref_score, abs=1e-6)


def test_batched_prefix_beam_rejects_bad_input():
    with pytest.raises(ValueError, match="B, T, V"):
        prefix_beam_batch(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        prefix_beam_batch(torch.full((1, 2, 3), float("nan")))
    with pytest.raises(ValueError, match="lengths"):
        prefix_beam_batch(torch.zeros(2, 3, 4), lengths=[3])


def test_output_length_and_normalisation():
    torch.manual_seed(0)
    model = CRNN(build_config("tiny", vocab_size=20))
    images = torch.randint(0, 256, (2, 1, 40, 101), dtype=torch.uint8)
    lp = model(images)
    assert lp.shape == (2, 2 * 26, 20)  # width padded to 104, /4 = 26 steps, 2 slots each
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2, 52), atol=1e-5)


def test_loss_and_gold_score_agree():
    torch.manual_seed(0)
    model = CRNN(build_config("tiny", vocab_size=20)).eval()
    images = torch.randint(0, 256, (2, 1, 32, 64), dtype=torch.uint8)
    targets = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]])
    batch = Batch(images, targets, torch.tensor([3, 1]), ["a.png", "b.png"])
    parts = model.training_loss(batch)
    gold = model.sequence_logprob(batch)
    assert int(parts.tokens) == 4
    assert float(parts.nll) == pytest.approx(float(-gold.sum()), rel=1e-5)


def test_loss_takes_each_row_s_own_tokens():
    """The flat CTC targets are each row's first ``length`` tokens: the batched loss equals the sum
    of the per-image losses, whatever padding follows."""
    torch.manual_seed(0)
    model = CRNN(build_config("tiny", vocab_size=20)).eval()
    images = torch.randint(0, 256, (3, 1, 32, 64), dtype=torch.uint8)
    targets = torch.tensor([[1, 5, 6, 7, 2, 0], [1, 8, 2, 0, 0, 0], [1, 9, 9, 4, 11, 2]])
    lengths = torch.tensor([3, 1, 4])
    batch = Batch(images, targets, lengths, ["a.png", "b.png", "c.png"])
    whole = model.sequence_logprob(batch)
    for i in range(3):
        one = Batch(images[i:i + 1], targets[i:i + 1, : int(lengths[i]) + 2], lengths[i:i + 1], [batch.names[i]])
        assert float(whole[i]) == pytest.approx(float(model.sequence_logprob(one)[0]), rel=1e-5)


ATOMS = ["a", "b", "c", "x", "y", "n", "1", "2", "3", "\\alpha", "\\beta", "\\pi"]


def single_line_formulas(n: int, seed: int) -> list[str]:
    """Formulas on one baseline: no fractions, no scripts."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        toks = [rng.choice(ATOMS)]
        for _ in range(rng.randint(1, 3)):
            toks += [rng.choice(["+", "-", "="]), rng.choice(ATOMS)]
        f = " ".join(toks)
        if f not in out:
            out.append(f)
    return out


@pytest.mark.slow
def test_tiny_model_overfits_single_line_formulas_and_decodes_them_exactly(build_formula_dataset, tmp_path):
    formulas = single_line_formulas(24, seed=1)
    data = build_formula_dataset("ctc-overfit", formulas)
    run = tmp_path / "run"
    rc = main(["baseline", "train", "ctc", "--data", str(data), "--out", str(run), "--size", "tiny",
               "--optimizer", "adam", "--lr", "0.003", "--lr-decay", "1", "--batch-size", "8",
               "--epochs", "450", "--threads", "1", "--device", "cpu"])
    assert rc == 0
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert min(h["val_ppl"] for h in history) < 1.05  # validation = the same formulas, other images
    preds = tmp_path / "preds.jsonl"
    for beam in ("1", "5"):
        rc = main(["baseline", "predict", "ctc", "--data", str(data), "--split", "test", "--checkpoint",
                   str(run / "best.pt"), "--out", str(preds), "--beam", beam, "--device", "cpu",
                   "--threads", "1"])
        assert rc == 0
        got = [json.loads(line)["prediction"] for line in preds.read_text().splitlines()]
        assert [(f, g) for f, g in zip(formulas, got) if f != g] == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is not exercised here")
def test_cuda_path_trains_with_bf16():
    from markupeval.baselines.common.device import autocast

    dev = torch.device("cuda")
    model = CRNN(build_config("tiny", vocab_size=20)).to(dev)
    images = torch.randint(0, 256, (2, 1, 32, 64), dtype=torch.uint8, device=dev)
    batch = Batch(images, torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]], device=dev), torch.tensor([2, 1], device=dev),
                  ["a.png", "b.png"])
    with autocast(dev, "bf16"):
        loss = model.training_loss(batch).loss
    loss.backward()
    assert torch.isfinite(loss)
