"""Training settings and their command-line flags (no torch here, so ``--help`` works without it)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields


PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_HELP = ("auto: bf16 autocast on CUDA, fp32 on CPU; bf16 on CPU uses oneDNN's bf16 kernels "
                  "(fast only on CPUs with AVX-512 BF16 or AMX); the LSTM state stays fp32 either way")


@dataclass
class TrainConfig:
    """Training settings; defaults are the paper's recipe (§5)."""

    epochs: int = 12
    batch_size: int = 20
    optimizer: str = "sgd"          # "sgd" (paper) or "adam" (converges faster in short CPU runs)
    lr: float = 0.1
    lr_decay: float = 0.5           # factor applied when validation perplexity does not improve
    max_grad_norm: float = 20.0     # im2markup's default gradient clipping
    max_tokens: int = 150           # training filter of the paper
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"         # "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32" or "bf16"
    threads: int = 2                # CPU threads (the project's machines share 2 cores)
    workers: int = 4                # CUDA only: data-loading processes
    max_minutes: float | None = None  # wall-clock budget; stops after the current batch, then validates
    cooldown: float = 0.0           # share of max_minutes at its end over which the rate decays linearly
    val_limit: int | None = None    # validate on the first N validation samples only (short runs)
    checkpoint_every: int = 500     # steps between mid-epoch checkpoints (resume granularity)
    log_every: int = 20             # steps between progress readings (each one is a host sync)


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def add_train_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """The flags every baseline's ``train`` shares; defaults come from ``defaults`` (one source)."""
    parser.add_argument("--data", type=str, nargs="+", required=True, metavar="DIR",
                        help="dataset directories written by `markupeval data build` / `data synth` "
                             "(several are read as one set, e.g. real and synthetic)")
    parser.add_argument("--out", type=str, default=None, metavar="DIR",
                        help="run directory for checkpoints and history (default: runs/<name>[-variant])")
    parser.add_argument("--size", default="paper", choices=("paper", "small", "tiny"),
                        help="model width: the paper's, small (CPU runs) or tiny (tests)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if present")
    parser.add_argument("--train-limit", type=int, default=None, metavar="N", help="use the first N training samples")
    g = parser.add_argument_group("training recipe (defaults: the paper's)")
    g.add_argument("--epochs", type=int, default=defaults.epochs)
    g.add_argument("--batch-size", type=int, default=None, help="default: 20, or 6 for hierarchical/C2F models")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default=defaults.optimizer)
    g.add_argument("--lr", type=float, default=None, help=f"default {defaults.lr} (0.005 for c2f-hard; 1e-3 with adam)")
    g.add_argument("--lr-decay", type=float, default=defaults.lr_decay)
    g.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm)
    g.add_argument("--max-tokens", type=int, default=defaults.max_tokens, help="drop longer training formulas")
    g.add_argument("--seed", type=int, default=defaults.seed)
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default=defaults.device)
    g.add_argument("--precision", choices=PRECISIONS, default=defaults.precision, help=PRECISION_HELP)
    g.add_argument("--threads", type=int, default=defaults.threads, help="CPU threads for torch")
    g.add_argument("--workers", type=int, default=defaults.workers, help="data-loading processes on CUDA")
    g.add_argument("--max-minutes", type=float, default=defaults.max_minutes, help="wall-clock training budget")
    g.add_argument("--cooldown", type=_share, default=defaults.cooldown, metavar="SHARE",
                   help="decay the rate linearly to 5%% of its value over this last share of --max-minutes "
                        "(a budgeted run ends on a low rate instead of mid-plateau); 0: off, the paper's")
    g.add_argument("--val-limit", type=int, default=defaults.val_limit, metavar="N",
                   help="validate on the first N validation samples")
    g.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, metavar="STEPS")
    g.add_argument("--log-every", type=int, default=defaults.log_every, metavar="STEPS",
                   help="steps between progress readings (each reads the loss back from the device)")


def train_config_from_args(args: argparse.Namespace, batch_size: int, lr: float) -> TrainConfig:
    """Fill a TrainConfig from parsed flags; ``batch_size``/``lr`` are the model's defaults when unset."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values["batch_size"] = args.batch_size or batch_size
    values["lr"] = args.lr if args.lr is not None else lr
    return TrainConfig(**values)


def add_predict_arguments(parser: argparse.ArgumentParser, default_checkpoint: str) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=str, metavar="DIR", help="directory of preprocessed *.png formula images")
    src.add_argument("--data", type=str, metavar="DIR", help="dataset directory (with --split): gold known")
    parser.add_argument("--split", default="test", choices=("train", "validate", "test"))
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="predict the first N images only")
    parser.add_argument("--out", type=str, required=True, metavar="PREDS.jsonl",
                        help='one {"image": ..., "prediction": ...} line per image')
    parser.add_argument("--results", type=str, default=None, metavar="FILE",
                        help="also write an im2markup results file (needs --data)")
    parser.add_argument("--checkpoint", type=str, default=default_checkpoint, metavar="CKPT")
    parser.add_argument("--beam", type=int, default=5, help="beam width (1 = greedy)")
    parser.add_argument("--max-len", type=int, default=None, help="longest output in tokens (attention models)")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
