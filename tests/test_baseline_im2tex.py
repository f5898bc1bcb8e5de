"""IM2TEX baseline: shapes and masks of every attention variant, sparsemax, decoding, learning.

The learning test trains a tiny model through ``markupeval baseline train im2tex`` on formulas
rendered by the real pipeline and requires exact decoding of every one: it fails if learning,
the data path or decoding breaks.
"""

from __future__ import annotations

import json
import random

import pytest

torch = pytest.importorskip("torch", reason="the baselines extra (torch) is not installed")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from markupeval.baselines.common.data import Batch  # noqa: E402
from markupeval.baselines.im2tex.config import CELL, MODELS, VARIANTS, build_config  # noqa: E402
from markupeval.baselines.im2tex.decode import beam_search, greedy  # noqa: E402
from markupeval.baselines.im2tex.model import Im2Tex, count_parameters, sparsemax, to_cells  # noqa: E402
from markupeval.cli import main  # noqa: E402

V = 30


def tiny(variant: str, **kw) -> Im2Tex:
    torch.manual_seed(0)
    return Im2Tex(build_config(variant, "tiny", vocab_size=V, **kw))


def random_batch(b: int = 3, h: int = 40, w: int = 100, t: int = 7, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (b, 1, h, w), dtype=torch.uint8, generator=g)
    targets = torch.randint(4, V, (b, t), generator=g)
    targets[:, 0] = 1
    lengths = torch.tensor([t - 2, t - 3, t - 4][:b])
    for i, n in enumerate(lengths.tolist()):
        targets[i, n + 1] = 2
        targets[i, n + 2:] = 0
    return Batch(images, targets, lengths, [f"{i}.png" for i in range(b)])


# -- shapes, masks, lookups ----------------------------------------------------------------------

@pytest.mark.parametrize("variant", MODELS)
def test_forward_shapes_and_loss(variant):
    model = tiny(variant)
    batch = random_batch()
    logits, infos = model(batch.images, batch.targets)
    assert logits.shape == (3, 6, V)
    assert len(infos) == 6
    parts = model.training_loss(batch)
    assert parts.tokens == int(batch.lengths.sum()) + 3  # every formula token plus </s>
    assert torch.isfinite(parts.loss)
    parts.loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "coarse" not in n or variant != "c2f-hard")


@pytest.mark.parametrize("variant", VARIANTS)
def test_attention_lookups_and_weights(variant):
    """40x100 images: fine grid 5x13 (65 cells, width padded to 104), coarse grid 2x4 (8 cells)."""
    model = tiny(variant).eval()
    batch = random_batch()
    mem = model.encode(batch.images)
    state = model.init_state(3, batch.images.device)
    with torch.no_grad():
        _, _, info = model.step(batch.targets[:, 0], state, mem)
    n_fine, n_coarse = 5 * 13, 2 * 4
    expect_coarse = {"standard": 0}.get(variant, n_coarse)
    assert info.coarse_lookups.tolist() == [expect_coarse] * 3
    fine = info.fine_lookups
    if variant == "standard" or variant == "hierarchical":
        assert fine.tolist() == [n_fine] * 3
    elif variant == "coarse":
        assert fine.tolist() == [0] * 3
    elif variant == "c2f-hard":
        assert (fine <= CELL * CELL).all() and (fine >= 1).all()
    else:  # sparsemax: only the fine cells of the coarse cells in the support
        support = info.coarse_weights > 0
        assert torch.equal(fine, (mem.fine_mask.sum(2) * support).sum(1).float())
    if info.fine_weights is not None:
        w = info.fine_weights
        assert torch.allclose(w.sum(dim=(1, 2)), torch.ones(3), atol=1e-5)
        assert (w[~mem.fine_mask] == 0).all()  # padding positions never attended
    if info.coarse_weights is not None:
        assert torch.allclose(info.coarse_weights.sum(1), torch.ones(3), atol=1e-5)


def test_to_cells_masks_padding_only():
    v = torch.arange(2 * 5 * 6 * 1, dtype=torch.float32).view(2, 5, 6, 1)
    cells, mask = to_cells(v, 4)
    assert cells.shape == (2, 4, 16, 1) and mask.shape == (2, 4, 16)
    assert int(mask[0].sum()) == 30 and (mask.sum(2) >= 1).all()
    # every real value appears once among the unmasked positions, in its 4x4 cell
    assert sorted(cells[0][mask[0]].squeeze(-1).tolist()) == list(range(30))
    assert cells[0, 1, 0, 0] == v[0, 0, 4, 0]  # cell (0,1) starts at column 4


def test_parameter_counts_near_the_paper():
    """Paper: 9.48M (standard), 15.85M (hierarchical/C2F). Ours use the paper's additive attention
    beta^T tanh(W1 h + W2 v) (im2markup's code uses a bilinear score, ~0.26M fewer per attention)
    and PyTorch's two LSTM bias vectors; see baselines/README.md."""
    std = count_parameters(Im2Tex(build_config("standard", vocab_size=509)))
    hier = count_parameters(Im2Tex(build_config("hierarchical", vocab_size=509)))
    cap = count_parameters(Im2Tex(build_config("caption", vocab_size=509)))
    assert abs(std - 9.48e6) / 9.48e6 < 0.03
    assert abs(hier - 15.85e6) / 15.85e6 < 0.05
    assert abs(cap - std) / std < 0.03  # CAPTION keeps the parameter count


# -- sparsemax -----------------------------------------------------------------------------------

def sparsemax_reference(z: list[float]) -> list[float]:
    """Bisection on the threshold tau of sum(max(z - tau, 0)) = 1: a different algorithm."""
    lo, hi = max(z) - 1.0, max(z)
    for _ in range(200):
        tau = (lo + hi) / 2
        if sum(max(x - tau, 0.0) for x in z) > 1:
            lo = tau
        else:
            hi = tau
    return [max(x - tau, 0.0) for x in z]


def test_sparsemax_matches_reference_on_random_inputs():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        scale = rng.choice([0.1, 1.0, 5.0])
        z = [rng.gauss(0, scale) for _ in range(n)]
        got = sparsemax(torch.tensor([z], dtype=torch.float64))[0].tolist()
        ref = sparsemax_reference(z)
        assert got == pytest.approx(ref, abs=1e-6)
        assert sum(got) == pytest.approx(1.0)


def test_sparsemax_masks_and_extremes():
    z = torch.tensor([[1.0, 5.0, 0.9], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, False, True], [True, True, True]])
    p = sparsemax(z, mask)
    assert p[0, 1] == 0 and p[0].sum() == pytest.approx(1.0)
    assert p[0].tolist() == pytest.approx([0.55, 0.0, 0.45])
    assert p[1].tolist() == pytest.approx([1 / 3] * 3)  # ties: uniform
    assert sparsemax(torch.tensor([[10.0, 0.0]])).tolist() == [[1.0, 0.0]]  # sparse: exact zero


# -- REINFORCE -----------------------------------------------------------------------------------

def test_hard_attention_gets_policy_gradient_and_moves_baseline():
    """The sampled cell is not differentiable: only REINFORCE gives coarse attention a gradient."""
    model = tiny("c2f-hard").train()
    batch = random_batch()
    before = float(model.reward_baseline)
    model.training_loss(batch).loss.backward()
    assert model.coarse_beta.weight.grad is not None and model.coarse_beta.weight.grad.abs().sum() > 0
    after = float(model.reward_baseline)
    assert after != before and after < 0  # rewards are log-likelihoods: negative
    model.eval()  # at test time: argmax, deterministic
    a = greedy(model, batch.images, max_len=8).ids
    assert a == greedy(model, batch.images, max_len=8).ids


# -- decoding ------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_beam_width_one_equals_greedy(variant):
    model = tiny(variant)
    images = random_batch(seed=1).images
    g = greedy(model, images, max_len=12)
    b = beam_search(model, images, beam=1, max_len=12)
    assert g.ids == b.ids
    assert g.scores == pytest.approx(b.scores, abs=1e-4)
    assert g.steps == b.steps and g.fine_lookups == b.fine_lookups


def test_wider_beam_finds_no_worse_sequence():
    model = tiny("standard")
    images = random_batch(seed=2).images
    g = greedy(model, images, max_len=10)
    b = beam_search(model, images, beam=5, max_len=10)
    assert all(bs >= gs - 1e-4 for bs, gs in zip(b.scores, g.scores))


# -- learning on rendered formulas -----------------------------------------------------------------

ATOMS = ["a", "b", "c", "x", "y", "n", "1", "2", "3", "\\alpha", "\\beta", "\\pi"]


def structured_formulas(n: int, seed: int) -> list[str]:
    """Short formulas with superscripts and subscripts. All fit one image bucket: with two buckets
    of unequal size, batch-norm running statistics drift towards the last batches' bucket and a
    model overfitted this hard decodes the other bucket's images slightly worse in eval mode."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        a, b, c = rng.choice(ATOMS), rng.choice(ATOMS), rng.choice(ATOMS)
        f = rng.choice([f"{a} ^ {{ {b} }} + {c}", f"{a} _ {{ {b} }} ^ {{ {c} }}", f"{a} _ {{ {b} }} = {c}",
                        f"{a} - {b} = {c}"])
        if f not in out:
            out.append(f)
    return out


@pytest.mark.slow
def test_tiny_model_overfits_rendered_formulas_and_decodes_them_exactly(build_formula_dataset, tmp_path):
    formulas = structured_formulas(24, seed=0)
    data = build_formula_dataset("im2tex-overfit", formulas)
    run = tmp_path / "run"
    rc = main(["baseline", "train", "im2tex", "--data", str(data), "--out", str(run), "--size", "tiny",
               "--optimizer", "adam", "--lr", "0.002", "--lr-decay", "1", "--batch-size", "8",
               "--epochs", "200", "--threads", "1", "--device", "cpu"])
    assert rc == 0
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert min(h["val_ppl"] for h in history) < 1.02  # validation = the same formulas, other images
    preds = tmp_path / "preds.jsonl"
    rc = main(["baseline", "predict", "im2tex", "--data", str(data), "--split", "test", "--checkpoint",
               str(run / "best.pt"), "--out", str(preds), "--beam", "1", "--device", "cpu", "--threads", "1"])
    assert rc == 0
    got = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [g["image"] for g in got] == [f"test{i:03d}.png" for i in range(24)]
    wrong = [(f, g["prediction"]) for f, g in zip(formulas, got) if g["prediction"] != f]
    assert not wrong


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path is not exercised here")
def test_cuda_path_trains_with_bf16_and_decodes():
    from markupeval.baselines.common.device import autocast

    dev = torch.device("cuda")
    model = tiny("hierarchical").to(dev)
    batch = random_batch().to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with autocast(dev, "bf16"):
        loss = model.training_loss(batch).loss
    loss.backward()
    opt.step()
    with autocast(dev, "bf16"):
        out = beam_search(model, batch.images, beam=3, max_len=6)
    assert len(out.ids) == 3 and out.steps > 0


# -- Table 3 ablations ---------------------------------------------------------------------------

def test_no_pos_embed_drops_only_the_per_row_initial_state():
    full, ablated = tiny("standard"), tiny("standard", pos_embed=False)
    cfg = full.cfg
    assert ablated.encoder.init_state is None
    assert count_parameters(full) - count_parameters(ablated) == cfg.max_rows * 4 * cfg.encoder_hidden
    batch = random_batch()
    assert torch.isfinite(ablated.training_loss(batch).loss)
    # The same weights with a zero initial state are exactly the ablated encoder.
    state = {k: v for k, v in full.state_dict().items() if "init_state" not in k}
    ablated.load_state_dict(state)
    with torch.no_grad():
        full.encoder.init_state.weight.zero_()
        assert torch.equal(full(batch.images, batch.targets)[0], ablated(batch.images, batch.targets)[0])


def test_lstm_lm_ignores_the_image():
    lm = tiny("standard", image=False).eval()
    a, b = random_batch(seed=0), random_batch(seed=0)
    b.images = 255 - a.images
    with torch.no_grad():
        assert torch.equal(lm.sequence_logprob(a), lm.sequence_logprob(b))
    lm.train()
    parts = lm.training_loss(a)
    parts.loss.backward()
    assert lm.embed.weight.grad is not None and lm.cnn.net[0].weight.grad is None
