"""``markupeval baseline train im2tex`` and ``markupeval baseline predict im2tex``.

Parsers are built without torch; the commands import it when they run.
"""

from __future__ import annotations

import argparse
from typing import Any

from markupeval.baselines.common.config import TrainConfig, add_predict_arguments, add_train_arguments
from markupeval.baselines.im2tex.config import MODELS, build_config

DEFAULT_CHECKPOINT = "runs/im2tex/best.pt"


def register(train: Any, predict: Any) -> None:
    p = train.add_parser("im2tex", help="train IM2TEX (Deng et al. 2017), any attention variant",
                         description="Train IM2TEX on a dataset built by `markupeval data build`. Defaults are "
                                     "the paper's recipe: SGD lr 0.1 halved on plateau, batch 20 (6 for "
                                     "hierarchical/C2F), 12 epochs, best checkpoint by validation perplexity.")
    p.add_argument("--variant", choices=MODELS, default="standard",
                   help="attention variant (Table 2 rows); caption = no row encoder")
    p.add_argument("--init-from", default=None, metavar="CKPT",
                   help="start from these weights (c2f-hard: a hierarchical checkpoint, as in the paper)")
    p.add_argument("--formulas", default=None, metavar="FILE",
                   help="train on this formula file (same line indices as formulas.norm.lst) instead: "
                        "IM2TEX-TOK uses tokenized, not normalized, formulas; the vocabulary is then its "
                        "training tokens seen more than once")
    p.add_argument("--no-pos-embed", action="store_true",
                   help="-PosEmbed (Table 3): no trainable per-row initial state in the row encoder")
    p.add_argument("--no-image", action="store_true",
                   help="LSTM-LM (Table 3): train the decoder alone, without the image (perplexity only)")
    add_train_arguments(p, TrainConfig())
    p.set_defaults(func=_train)

    q = predict.add_parser("im2tex", help="decode images with a trained IM2TEX checkpoint")
    add_predict_arguments(q, DEFAULT_CHECKPOINT)
    q.set_defaults(func=_predict)


def spec() -> Any:
    """The BaselineSpec of IM2TEX (imports torch)."""
    from markupeval.baselines.common.commands import BaselineSpec, DecodeOut
    from markupeval.baselines.im2tex.config import Im2TexConfig
    from markupeval.baselines.im2tex.decode import decode
    from markupeval.baselines.im2tex.model import Im2Tex

    def make_config(args: argparse.Namespace, vocab_size: int) -> Im2TexConfig:
        return build_config(args.variant, args.size, vocab_size=vocab_size,
                            pos_embed=not getattr(args, "no_pos_embed", False),
                            image=not getattr(args, "no_image", False))

    def describe(cfg: Im2TexConfig) -> str:
        name = "CAPTION" if not cfg.row_encoder else f"IM2TEX {cfg.attention}"
        name = "LSTM-LM" if not cfg.image else name + ("" if cfg.pos_embed else " -PosEmbed")
        return f"{name} (CNN {cfg.cnn_channels[-1]}, decoder {cfg.decoder_hidden})"

    def run_decode(model: Im2Tex, images: Any, beam: int, max_len: int | None) -> DecodeOut:
        d = decode(model, images, beam, max_len)
        return DecodeOut(d.ids, d.scores, {"coarse_lookups": d.coarse_lookups, "fine_lookups": d.fine_lookups,
                                           "steps": d.steps})

    def summarize(stats: dict[str, float]) -> dict[str, float]:
        steps = max(stats.get("steps", 0), 1)
        return {"avg_coarse_lookups": round(stats.get("coarse_lookups", 0) / steps, 2),
                "avg_fine_lookups": round(stats.get("fine_lookups", 0) / steps, 2)}

    return BaselineSpec(
        kind="im2tex", config_cls=Im2TexConfig, model_cls=Im2Tex, make_config=make_config, describe=describe,
        default_batch_size=lambda cfg: 20 if cfg.attention == "standard" or cfg.attention == "coarse" else 6,
        default_lr=lambda cfg, args: 1e-3 if args.optimizer == "adam" else (0.005 if cfg.attention == "c2f-hard" else 0.1),
        decode=run_decode, gold_logprob=lambda model, batch: model.sequence_logprob(batch), summarize=summarize)


def _train(args: argparse.Namespace) -> int:
    from markupeval.baselines.common.commands import run_train

    args.out = args.out or ("runs/im2tex" if args.variant == "standard" else f"runs/im2tex-{args.variant}")
    return run_train(args, spec())


def _predict(args: argparse.Namespace) -> int:
    from markupeval.baselines.common.commands import run_predict

    return run_predict(args, spec())
