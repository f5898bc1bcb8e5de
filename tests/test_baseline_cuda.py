"""CUDA against CPU: the same weights give the same outputs, within stated tolerances.

fp32 on both devices (TF32 off) must agree to float rounding: logits within 1e-3 absolute and
identical greedy and beam outputs. bf16 autocast on CUDA (the default there) is compared with
fp32 on CPU: per-token log-probabilities within 0.15 nats, which is the size of bf16's rounding
(8 bits of mantissa) through a few layers, not a modelling difference.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the baselines extra (torch) is not installed")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: the GPU-vs-CPU comparison needs one")

from markupeval.baselines.common.data import Batch  # noqa: E402
from markupeval.baselines.common.device import autocast  # noqa: E402
from markupeval.baselines.ctc.config import build_config as ctc_config  # noqa: E402
from markupeval.baselines.ctc.model import CRNN  # noqa: E402
from markupeval.baselines.im2tex.config import build_config  # noqa: E402
from markupeval.baselines.im2tex.decode import beam_search, greedy  # noqa: E402
from markupeval.baselines.im2tex.model import Im2Tex, token_logprobs  # noqa: E402

V = 40
CPU, GPU = torch.device("cpu"), torch.device("cuda")


@pytest.fixture(autouse=True)
def exact_fp32():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def batch(b: int = 4, h: int = 48, w: int = 160, t: int = 12) -> Batch:
    g = torch.Generator().manual_seed(1)
    images = torch.full((b, 1, h, w), 255, dtype=torch.uint8)
    images[:, :, 8:40, 8:150] = torch.randint(0, 256, (b, 1, 32, 142), dtype=torch.uint8, generator=g)
    targets = torch.randint(4, V, (b, t), generator=g)
    targets[:, 0], targets[:, -1] = 1, 2
    return Batch(images, targets, torch.full((b,), t - 2), [f"{i}.png" for i in range(b)])


def pair(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    import copy
    return model.eval(), copy.deepcopy(model).to(GPU).eval()


@pytest.mark.parametrize("variant", ["standard", "hierarchical", "c2f-sparsemax"])
def test_im2tex_fp32_outputs_agree(variant):
    torch.manual_seed(0)
    cpu, gpu = pair(Im2Tex(build_config(variant, "tiny", vocab_size=V)))
    b = batch()
    with torch.no_grad():
        lc, _ = cpu(b.images, b.targets)
        lg, _ = gpu(b.images.to(GPU), b.targets.to(GPU))
    assert (lc - lg.cpu()).abs().max().item() < 1e-3
    assert greedy(cpu, b.images, max_len=20).ids == greedy(gpu, b.images.to(GPU), max_len=20).ids
    assert beam_search(cpu, b.images, 5, 20).ids == beam_search(gpu, b.images.to(GPU), 5, 20).ids


def test_im2tex_bf16_on_gpu_stays_near_fp32_on_cpu():
    torch.manual_seed(0)
    cpu, gpu = pair(Im2Tex(build_config("standard", "tiny", vocab_size=V)))
    b = batch()
    with torch.no_grad():
        lc, _ = cpu(b.images, b.targets)
        with autocast(GPU, "bf16"):
            lg, _ = gpu(b.images.to(GPU), b.targets.to(GPU))
    pc, mask = token_logprobs(lc, b.targets)
    pg, _ = token_logprobs(lg.float().cpu(), b.targets)
    assert (pc - pg)[mask].abs().max().item() < 0.15


def test_ctc_fp32_outputs_agree():
    torch.manual_seed(0)
    cpu, gpu = pair(CRNN(ctc_config("tiny", vocab_size=V)))
    b = batch()
    with torch.no_grad():
        assert (cpu(b.images) - gpu(b.images.to(GPU)).cpu()).abs().max().item() < 1e-3
