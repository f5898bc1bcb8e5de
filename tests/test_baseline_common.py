"""What the neural baselines share: batching, collation, image input, checkpoints, the training
loop's schedule and resume, and the `markupeval baseline` command's errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the baselines extra (torch) is not installed")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from markupeval.baselines.common import checkpoint  # noqa: E402
from markupeval.baselines.common.data import ImageSet, bucket_batches, collate  # noqa: E402
from markupeval.baselines.common.train import COOLDOWN_FLOOR, cooldown_factor, lr_after_validation  # noqa: E402
from markupeval.cli import main  # noqa: E402
from markupeval.data import Vocabulary  # noqa: E402
from markupeval.errors import InputError  # noqa: E402


def test_bucket_batches_group_one_size_cover_everything_and_depend_on_seed_only():
    sizes = [(32, 128)] * 7 + [(64, 128)] * 5 + [(32, 160)] * 3
    a = bucket_batches(sizes, 4, shuffle=True, seed=3)
    assert sorted(i for b in a for i in b) == list(range(15))
    assert all(len({sizes[i] for i in b}) == 1 for b in a)
    assert all(len(b) <= 4 for b in a)
    assert a == bucket_batches(sizes, 4, shuffle=True, seed=3)
    assert a != bucket_batches(sizes, 4, shuffle=True, seed=4)
    plain = bucket_batches(sizes, 4, shuffle=False)
    assert plain[0] == [0, 1, 2, 3]  # list order inside a bucket when not shuffled


def test_collate_pads_white_and_frames_targets():
    vocab = Vocabulary(["a", "b"])
    images = [np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8)]
    batch = collate(images, [("a", "b"), ("zzz",)], ["x.png", "y.png"], vocab)
    assert batch.images.shape == (2, 1, 3, 3)
    assert batch.images[0, 0, 2].tolist() == [255, 255, 255] and batch.images[1, 0, :, 2].tolist() == [255] * 3
    assert batch.targets.tolist() == [[1, 4, 5, 2], [1, 3, 2, 0]]  # <s> a b </s>; <s> <unk> </s> <pad>
    assert batch.lengths.tolist() == [2, 1]


def test_image_directory_errors_name_the_path(tmp_path):
    vocab = Vocabulary(["a"])
    with pytest.raises(InputError, match="not found"):
        ImageSet.from_directory(tmp_path / "nope", vocab)
    with pytest.raises(InputError, match="no .png"):
        ImageSet.from_directory(tmp_path, vocab)
    Image.fromarray(np.full((8, 20), 255, np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "a.png").write_bytes(b"not a png")
    with pytest.raises(InputError) as err:
        ImageSet.from_directory(tmp_path, vocab)
    assert err.value.path == tmp_path / "a.png"
    (tmp_path / "a.png").unlink()
    Image.fromarray(np.full((8, 20), 0, np.uint8)).convert("RGB").save(tmp_path / "c.png")  # colour is fine
    data = ImageSet.from_directory(tmp_path, vocab)
    assert data.names == ["b.png", "c.png"] and data.sizes == [(8, 20), (8, 20)]


def test_lr_halves_only_when_validation_perplexity_does_not_improve():
    assert lr_after_validation(0.1, 5.0, None, 0.5) == 0.1
    assert lr_after_validation(0.1, 5.0, 6.0, 0.5) == 0.1
    assert lr_after_validation(0.1, 6.0, 5.0, 0.5) == 0.05
    assert lr_after_validation(0.1, 5.0, 5.0, 0.5) == 0.05


def test_cooldown_holds_the_rate_then_decays_linearly_to_its_floor_at_the_budget():
    # 100 minutes, the last 20 % cooling: 1 up to minute 80, then linear to the floor at minute 100.
    assert cooldown_factor(0.0, 100, 0.2) == 1.0
    assert cooldown_factor(80 * 60, 100, 0.2) == 1.0
    assert cooldown_factor(90 * 60, 100, 0.2) == pytest.approx((1 + COOLDOWN_FLOOR) / 2)
    assert cooldown_factor(100 * 60, 100, 0.2) == pytest.approx(COOLDOWN_FLOOR)
    assert cooldown_factor(120 * 60, 100, 0.2) == pytest.approx(COOLDOWN_FLOOR)
    # Off without a budget or a share: the paper's schedule alone.
    assert cooldown_factor(99 * 60, None, 0.2) == 1.0
    assert cooldown_factor(99 * 60, 100, 0.0) == 1.0


def test_checkpoint_errors_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        checkpoint.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        checkpoint.load(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="not a markupeval baseline checkpoint"):
        checkpoint.load(tmp_path / "foreign.pt")
    checkpoint.save(tmp_path / "ok.pt", {"kind": "ctc"})
    with pytest.raises(InputError, match="for baseline 'ctc', not 'im2tex'"):
        checkpoint.load(tmp_path / "ok.pt", "im2tex")


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    Image.fromarray(np.full((8, 20), 255, np.uint8)).save(tmp_path / "a.png")
    rc = main(["baseline", "predict", "im2tex", "--images", str(tmp_path), "--out", str(tmp_path / "p.jsonl"),
               "--checkpoint", str(tmp_path / "none.pt")])
    assert rc == 2
    assert "none.pt" in capsys.readouterr().err
    rc = main(["baseline", "train", "ctc", "--data", str(tmp_path / "nodata"), "--device", "cpu"])
    assert rc == 2
    assert "nodata" in capsys.readouterr().err


@pytest.mark.slow
def test_resumed_cpu_training_is_bit_identical_to_an_uninterrupted_run(build_formula_dataset, tmp_path):
    """Epoch orders depend on (seed, epoch) only and the state is restored whole, so 1 + 1 epochs
    with a restart in between give exactly the weights of 2 epochs straight."""
    data = build_formula_dataset("resume", ["a + b", "x = 1", "y - 2", "c", "n + 3", "a = b"])
    common = ["baseline", "train", "ctc", "--data", str(data), "--size", "tiny", "--batch-size", "2",
              "--optimizer", "adam", "--lr", "0.003", "--device", "cpu", "--threads", "1"]
    assert main(common + ["--out", str(tmp_path / "straight"), "--epochs", "2"]) == 0
    assert main(common + ["--out", str(tmp_path / "split"), "--epochs", "1"]) == 0
    assert main(common + ["--out", str(tmp_path / "split"), "--epochs", "2", "--resume"]) == 0
    a = checkpoint.load(tmp_path / "straight" / "last.pt")
    b = checkpoint.load(tmp_path / "split" / "last.pt")
    assert a["train_state"]["steps"] == b["train_state"]["steps"] == 6
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    history = [json.loads(x) for x in (tmp_path / "split" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]


@pytest.mark.slow
def test_resumed_hard_attention_run_draws_the_same_samples(build_formula_dataset, tmp_path):
    """c2f-hard samples a coarse cell at every step from torch's RNG: the checkpoint carries the RNG
    state, so a resumed run draws exactly what the uninterrupted run draws (without it 63 of 66
    tensors differed)."""
    data = build_formula_dataset("resume-hard", ["a + b", "a + c", "b = c", "c = a"])
    common = ["baseline", "train", "im2tex", "--variant", "c2f-hard", "--data", str(data), "--size", "tiny",
              "--batch-size", "2", "--optimizer", "adam", "--lr", "0.003", "--device", "cpu", "--threads", "1"]
    assert main(common + ["--out", str(tmp_path / "straight"), "--epochs", "2"]) == 0
    assert main(common + ["--out", str(tmp_path / "split"), "--epochs", "1"]) == 0
    assert main(common + ["--out", str(tmp_path / "split"), "--epochs", "2", "--resume"]) == 0
    a = checkpoint.load(tmp_path / "straight" / "last.pt")
    b = checkpoint.load(tmp_path / "split" / "last.pt")
    assert a["train_state"]["steps"] == b["train_state"]["steps"] == 4
    differ = [k for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    assert not differ
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


@pytest.mark.slow
def test_tokenized_training_formulas_replace_the_normalized_ones(build_formula_dataset, tmp_path):
    """IM2TEX-TOK trains on another formula file with the same line indices; its vocabulary is
    then that file's training tokens seen more than once."""
    from markupeval.data import Im2LatexDataset
    from markupeval.baselines.common.data import training_vocabulary

    data = build_formula_dataset("tok", ["x ^ { 2 }", "x ^ { 3 }", "y"])
    tok = tmp_path / "formulas.tok.lst"
    tok.write_text("x^{2}\nx^{3}\ny\n")
    ds = Im2LatexDataset(data, "train")
    formulas = tok.read_text().split("\n")
    vocab = training_vocabulary(ds, formulas)
    assert vocab.tokens == []  # every tokenized formula is one token seen once
    items = ImageSet.from_dataset(ds, vocab, formulas)
    assert items.tokens == [("x^{2}",), ("x^{3}",), ("y",)]
    assert training_vocabulary(ds, None).tokens == ["^", "x", "{", "}"]  # the dataset's: seen twice or more


def test_a_broken_baseline_module_is_a_visible_error_naming_it(monkeypatch, capsys):
    import markupeval.baselines as baselines

    monkeypatch.setitem(baselines.BASELINES, "brokenbase", "markupeval.baselines.no_such_module_cli")
    rc = main(["baseline", "predict", "brokenbase", "--images", "x", "--out", "y"])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 3
    assert "baseline 'brokenbase' is broken" in err and "markupeval.baselines.no_such_module_cli" in err
    # Listed in the help too, marked broken, not silently absent.
    rc = main(["baseline", "predict"])
    out = " ".join(capsys.readouterr().out.split())
    assert rc == 2 and "brokenbase" in out and "BROKEN" in out
