"""``markupeval baseline train ctc`` and ``markupeval baseline predict ctc`` (torch imported on use)."""

from __future__ import annotations

import argparse
from typing import Any

from markupeval.baselines.common.config import TrainConfig, add_predict_arguments, add_train_arguments
from markupeval.baselines.ctc.config import build_config

DEFAULT_CHECKPOINT = "runs/ctc/best.pt"


def register(train: Any, predict: Any) -> None:
    p = train.add_parser("ctc", help="train the CRNN + CTC baseline (the paper's CTC row)",
                         description="Train a CRNN (CNN + 2-layer BiLSTM + CTC) with the same data path, loop "
                                     "and recipe flags as IM2TEX.")
    add_train_arguments(p, TrainConfig())
    p.set_defaults(func=_train)
    q = predict.add_parser("ctc", help="decode images with a trained CTC checkpoint (greedy or prefix beam)")
    add_predict_arguments(q, DEFAULT_CHECKPOINT)
    q.set_defaults(func=_predict)


def spec() -> Any:
    """The BaselineSpec of the CTC model (imports torch)."""
    from markupeval.baselines.common.commands import BaselineSpec, DecodeOut
    from markupeval.baselines.ctc.config import CTCConfig
    from markupeval.baselines.ctc.decode import collapse, prefix_beam_batch
    from markupeval.baselines.ctc.model import CRNN

    def run_decode(model: CRNN, images: Any, beam: int, max_len: int | None) -> DecodeOut:
        logp = model(images).float()
        if beam > 1:
            # One search for the whole batch, on the model's device; its score sums the paths it kept.
            ids, scores = prefix_beam_batch(logp, beam=beam)
            return DecodeOut(ids, scores)
        best = logp.max(dim=-1)
        # Best path: its log-probability is the score.
        ids = [collapse(path) for path in best.indices.cpu().tolist()]
        return DecodeOut(ids, best.values.sum(-1).cpu().tolist())

    return BaselineSpec(
        kind="ctc", config_cls=CTCConfig, model_cls=CRNN,
        make_config=lambda args, vocab_size: build_config(args.size, vocab_size=vocab_size),
        describe=lambda cfg: f"CTC (CRNN, CNN {cfg.cnn_channels[-1]}, BiLSTM {cfg.lstm_layers}x{cfg.lstm_hidden})",
        default_batch_size=lambda cfg: 20,
        default_lr=lambda cfg, args: 1e-3 if args.optimizer == "adam" else 0.1,
        decode=run_decode, gold_logprob=lambda model, batch: model.sequence_logprob(batch))


def _train(args: argparse.Namespace) -> int:
    from markupeval.baselines.common.commands import run_train

    args.out = args.out or "runs/ctc"
    return run_train(args, spec())


def _predict(args: argparse.Namespace) -> int:
    from markupeval.baselines.common.commands import run_predict

    return run_predict(args, spec())
