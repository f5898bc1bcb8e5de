"""``markupeval data build`` on a 50-formula fixture, rendered with real pdflatex.

Checks the paper's preprocessing on the real renders (bucket choice, 8 px padding, x2 Lanczos
downsampling), the filters on constructed cases, the vocabulary rule, resuming, and the reader.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from markupeval.data.build import BuildConfig, build, inputs_from_files
from markupeval.data.preprocess import PAPER_BUCKETS, PreprocessSettings, choose_bucket, preprocess
from markupeval.data.reader import Im2LatexDataset
from markupeval.data.vocab import build_vocabulary

FIXTURE = Path(__file__).parent / "fixtures" / "data"

pytestmark = [
    pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed"),
    pytest.mark.slow,  # renders 50 formulas with pdflatex + Ghostscript (about 10 s)
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("built")
    inputs = inputs_from_files(
        FIXTURE / "formulas.norm.lst",
        {s: FIXTURE / f"{s}.lst" for s in ("train", "validate", "test")},
        normalized=FIXTURE / "formulas.norm.lst",
    )
    config = BuildConfig(template="im2markup", render_options={
        "rasterizer": "ghostscript", "cache": str(out / "cache"), "workers": 2})
    report = build(inputs, out / "set", config)
    return inputs, config, out / "set", report.manifest


def test_counts_and_drop_reasons(built) -> None:
    _, _, root, m = built
    c = m["counts"]
    assert c["train"] == {"listed": 33, "kept": 30, "dropped": {"too_large": 1, "too_many_tokens": 1, "unparseable": 1}}
    assert c["validate"] == {"listed": 8, "kept": 8, "dropped": {}}
    # The test list keeps everything, even the formula TeX cannot typeset.
    assert c["test"]["listed"] == c["test"]["kept"] == 9 and c["test"]["render_failed_kept_blank"] == 1
    assert len((root / "train_filter.lst").read_text().splitlines()) == 30
    assert m["settings"]["preprocess"]["buckets"][0] == [128, 32]
    assert json.loads((root / "manifest.json").read_text())["counts"] == c


def test_images_follow_the_papers_preprocessing(built) -> None:
    inputs, config, root, m = built
    ds = Im2LatexDataset(root, "train")
    from markupeval.data.build import make_renderer

    renderer = make_renderer(config.template, **config.render_options)  # cached: no TeX run
    formulas = [" ".join(it.tokens) for it in ds.items]
    renders = renderer.render(formulas)
    for item, rr in zip(ds.items, renders):
        img = ds.load_image(item.name)
        ch, cw = rr.image.shape  # the cropped render
        j = choose_bucket((cw + 16, ch + 16), PreprocessSettings().canvas_buckets())
        assert j is not None
        bw, bh = PAPER_BUCKETS[j]
        assert img.shape == (bh, bw), item.name  # first bucket holding crop + 2 x 8 px, halved
        # 8 px of white padding become 4 px. Lanczos-3 at x2 reaches 6 input px: output row/col 0
        # (input centre 1, ink from 8) stays pure white; rows/cols 1-2 only get the outer lobes.
        assert (img[:1] == 255).all() and (img[:, :1] == 255).all()
        assert (img[:3] >= 200).all() and (img[:, :3] >= 200).all()
        # The ink box halves: ink starts near (4, 4) and spans about half the crop.
        ink = np.argwhere(img < 128)
        assert 3 <= ink[:, 0].min() <= 5 and 3 <= ink[:, 1].min() <= 5
        assert abs((ink[:, 1].max() - ink[:, 1].min() + 1) - cw / 2) <= 2
        # Bit-exact with the preprocessing applied to the render.
        assert (img == preprocess(rr.image).image).all()
    # 50 images: 48 in paper buckets, the too-wide one in none, the TeX failure without image.
    assert m["buckets"].pop("none") == 1 and m["buckets"].pop("no_image") == 1
    assert sum(m["buckets"].values()) == 48


def test_vocabulary_is_kept_train_tokens_seen_twice(built) -> None:
    _, _, root, _ = built
    ds = Im2LatexDataset(root, "train")
    counts = Counter(t for it in ds.items for t in it.tokens)
    vocab = (root / "latex_vocab.txt").read_text().split("\n")[:-1]
    assert vocab == sorted(t for t, c in counts.items() if c > 1)
    assert vocab == build_vocabulary(" ".join(it.tokens) for it in ds.items)
    assert "x" in vocab


def test_resume_renders_nothing_and_changes_nothing(built) -> None:
    inputs, config, root, _ = built
    before = {p.name: p.read_bytes() for p in (root / "images_processed").iterdir()}

    class NoTeX:
        def render(self, formulas):
            raise AssertionError(f"re-rendered {len(formulas)} formulas")

        def signature(self):
            from markupeval.data.build import make_renderer

            return make_renderer(config.template, **config.render_options).signature()

    report = build(inputs, root, config, renderer=NoTeX())
    assert report.manifest["timing"]["items_rendered_this_run"] == 0
    assert {p.name: p.read_bytes() for p in (root / "images_processed").iterdir()} == before


def test_reader_batches_the_built_set(built) -> None:
    _, _, root, _ = built
    for split, n in (("train", 30), ("validate", 8), ("test", 9)):
        ds = Im2LatexDataset(root, split)
        assert len(ds) == n
        batches = list(ds.bucket_batches(4, seed=1))
        assert sum(len(b) for b in batches) == n
        assert all(len({ds.load_image(i.name).shape for i in b}) == 1 for b in batches)
    test = Im2LatexDataset(root, "test")
    broken = [i for i in test.items if i.name == "c00broken0"][0]
    assert (test.load_image(broken.name) == 255).all()  # the blank-render image (policy)


def test_cli_build_reuses_the_render_cache(built, tmp_path: Path) -> None:
    from markupeval.cli import main as cli_main

    _, config, root, m = built
    out = tmp_path / "cli"
    rc = cli_main(["data", "build", "--formulas", str(FIXTURE / "formulas.norm.lst"),
                   "--normalized", str(FIXTURE / "formulas.norm.lst"),
                   "--train", str(FIXTURE / "train.lst"), "--validate", str(FIXTURE / "validate.lst"),
                   "--test", str(FIXTURE / "test.lst"), "--template", "im2markup",
                   "--cache-dir", config.render_options["cache"], "--out", str(out), "--no-progress"])
    assert rc == 0
    cli = json.loads((out / "manifest.json").read_text())
    assert cli["counts"] == m["counts"]
    assert (out / "train_filter.lst").read_text() == (root / "train_filter.lst").read_text()
    # A list pointing past the formula file is an input error naming the line, not a traceback.
    bad = tmp_path / "bad.lst"
    bad.write_text("0 60ee748793 basic\n99 66667cee5b basic\n")
    rc = cli_main(["data", "build", "--formulas", str(FIXTURE / "formulas.norm.lst"),
                   "--normalized", str(FIXTURE / "formulas.norm.lst"), "--train", str(bad),
                   "--out", str(tmp_path / "bad"), "--no-progress"])
    assert rc == 2


def test_torch_view_batches_by_bucket(built) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    _, _, root, _ = built
    ds = Im2LatexDataset(root, "validate")
    tds = ds.torch_dataset()
    image, ids = tds[0]
    assert image.dtype == torch.float32 and image.shape[0] == 1 and float(image.max()) == 1.0
    assert ids[0] == 1 and ids[-1] == 2  # <s> ... </s>
    assert ds.vocab.decode(ids.tolist()) == [t if t in ds.vocab else "<unk>" for t in ds.items[0].tokens]
    loader = DataLoader(tds, batch_sampler=tds.bucket_sampler(3, seed=0), collate_fn=tds.collate)
    seen = 0
    for images, ids in loader:
        assert images.ndim == 4 and ids.shape[0] == images.shape[0] <= 3
        seen += images.shape[0]
    assert seen == len(ds) and len(tds.bucket_sampler(3)) == len(list(ds.bucket_batches(3)))
