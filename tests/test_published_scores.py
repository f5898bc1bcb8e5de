"""The scorer reproduces the scores published with two real prediction files (SCORES.md)."""

from __future__ import annotations

import pytest

from markupeval.metrics.bleu import format_multi_bleu
from markupeval.scoring import ScoreConfig, score_files

PUBLISHED = {
    "resultsT.txt": (
        "BLEU = 88.02, 97.4/94.4/91.7/89.0 (BP=0.946, ratio=0.947, hyp_len=643421, ref_len=679364)",
        "0.904904",
    ),
    "results65_100.txt": (
        "BLEU = 87.45, 97.7/94.6/91.7/89.0 (BP=0.938, ratio=0.940, hyp_len=638632, ref_len=679364)",
        "0.903960",
    ),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_bleu_and_edit_distance(shared_dir, name):
    data = shared_dir / "data"
    run = score_files(
        data / "predictions" / name,
        data / "im2latex100k" / "tgt-test-old.txt",
        names=data / "im2latex100k" / "src-test-old.txt",
        config=ScoreConfig(images=False),
    )
    bleu_line, edit = PUBLISHED[name]
    assert format_multi_bleu(run.scores["bleu"]) == bleu_line
    assert f"{run.metrics['edit_distance']:.6f}" == edit
    assert run.counts["gold"] == 10355
