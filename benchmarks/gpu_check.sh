#!/usr/bin/env bash
# The GPU check of the baselines, as ONE device call that ends within BUDGET_S seconds (default
# 540 s = 9 minutes, for a lent H200 whose session has about 15 minutes of device time).
#
#   bash benchmarks/gpu_check.sh --prepare        # here, on the CPU machine: pack .gpu/ (data + wheels)
#   device run: command "bash benchmarks/gpu_check.sh", carry [".gpu"], timeout_s 600
#   BUDGET_S=150 DEVICE=cpu SIZE=tiny OUT=/tmp/gc bash benchmarks/gpu_check.sh   # a rehearsal on CPU
#
# In the call it: (1) runs the CUDA tests, (2) measures training and beam-5 decoding throughput
# at paper size (benchmarks/train_speed.py), (3) trains IM2TEX on the reference data for the
# minutes left, (4) predicts the whole test set with beam 5, and writes the figures and the
# predictions (never checkpoints) to $OUT. The scoring, which needs TeX Live, happens back here:
#   markupeval score OUT/im2tex-gpu.preds.jsonl --gold data/reference/real/formulas.norm.lst \
#       --split data/reference/real/test_filter.lst --json run.json
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
  grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
  rm -rf .gpu && mkdir -p .gpu/wheels
  python=${PYTHON:-.venv/bin/python}
  "$python" benchmarks/gpu_pack.py pack --data "${DATA:-data/reference/real}" --out .gpu/data
  # The GPU image has PyTorch, numpy, pandas, rich, sacrebleu, pillow, scipy and scikit-image
  # for Python 3.12, but not these (and no network): they travel as wheels.
  for req in "Levenshtein>=0.25" "rapidfuzz" "pypdfium2>=4.20"; do
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .gpu/wheels "$req"
  done
  du -sh --apparent-size .gpu
  exit 0
fi

start=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-paper}
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
left() { echo $(( BUDGET_S - ($(date +%s) - start) )); }
log() { echo "[gpu_check $(( $(date +%s) - start ))s] $*" | tee -a "$OUT/gpu_check.log"; }
export PYTHONUNBUFFERED=1

PY=${PY:-python3}
if ! "$PY" -c "import markupeval.baselines" 2>/dev/null; then
  # A bare machine: wheels for what its image lacks, and the source tree on the path. The
  # baselines folder installs as markupeval.baselines; in this disposable copy a link does it.
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  [ -e markupeval/baselines ] || ln -s ../baselines markupeval/baselines
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')" | tee -a "$OUT/gpu_check.log"

DATA=${DATA:-}
if [ -z "$DATA" ]; then
  DATA=/tmp/reference
  [ -f "$DATA/test_filter.lst" ] || "$PY" benchmarks/gpu_pack.py unpack --pack .gpu/data --out "$DATA"
fi
log "data ready ($DATA); $(left) s left"

# (1) The CUDA tests (they skip on a machine without CUDA).
set +e
timeout 90 "$PY" -m pytest -q -p no:cacheprovider tests/test_baseline_cuda.py tests/test_baseline_im2tex.py \
  tests/test_baseline_ctc.py -k "cuda" 2>&1 | tail -n 15 | tee "$OUT/cuda_tests.txt"
set -e
log "CUDA tests done; $(left) s left"

# (2) Throughput at paper size, fp32 against bf16, interleaved.
timeout ${SPEED_S:-120} "$PY" benchmarks/train_speed.py --data "$DATA" --device "$DEVICE" --threads "${THREADS:-4}" --sizes "$SIZE" \
  --settings fp32,bf16 --batch-size 20 --decode-batch-size "${DECODE_BATCH:-256}" --steps 8 \
  --decode-batches 2 --rounds 1 --json "$OUT/throughput.json" 2>&1 | tee -a "$OUT/gpu_check.log" || true
log "throughput done; $(left) s left"

# (3) Train for what is left, keeping time for the test-set prediction and the copy back.
PREDICT_S=${PREDICT_S:-75}
minutes=$(python3 -c "print(max(0.5, ($(left) - $PREDICT_S - 30) / 60))")
log "training IM2TEX $SIZE for $minutes min"
# A hard stop too: loading the images and validating are outside --max-minutes.
timeout $(( $(left) - PREDICT_S )) "$PY" -m markupeval baseline train im2tex --data "$DATA" --out /tmp/gpu-run --size "$SIZE" \
  --device "$DEVICE" --threads "${THREADS:-4}" --optimizer adam --lr "${LR:-0.001}" --batch-size "${TRAIN_BATCH:-40}" --epochs 100 \
  --max-minutes "$minutes" --checkpoint-every 1000000 --log-every 200 2>&1 | tail -n 25 | tee -a "$OUT/gpu_check.log"
cp /tmp/gpu-run/history.jsonl "$OUT/history.jsonl"

# (4) The whole test set, beam 5.
t0=$(date +%s.%N)
timeout $(( $(left) > 20 ? $(left) - 10 : 10 )) "$PY" -m markupeval baseline predict im2tex --data "$DATA" --split test --checkpoint /tmp/gpu-run/best.pt \
  --device "$DEVICE" --threads "${THREADS:-4}" --beam 5 --batch-size "${DECODE_BATCH:-256}" ${LIMIT:+--limit $LIMIT} \
  --out "$OUT/im2tex-gpu.preds.jsonl" 2>&1 | tail -n 3 | tee -a "$OUT/gpu_check.log"
t1=$(date +%s.%N)
n=$(wc -l < "$OUT/im2tex-gpu.preds.jsonl")
python3 - "$OUT" "$n" "$t0" "$t1" "$SIZE" "$DEVICE" <<'EOF'
import json, sys
out, n, t0, t1, size, device = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
hist = [json.loads(l) for l in open(f"{out}/history.jsonl")]
fig = {"size": size, "device": device, "test_images": n, "predict_seconds": round(t1 - t0, 1),
       "predict_images_per_s_incl_load": round(n / (t1 - t0), 1),
       "train_minutes": round(hist[-1]["seconds"] / 60, 2) if hist else 0,
       "epochs": hist[-1]["epoch"] if hist else 0, "best_val_ppl": min(h["val_ppl"] for h in hist) if hist else None}
json.dump(fig, open(f"{out}/figures.json", "w"), indent=2)
print(json.dumps(fig))
EOF
log "done in $(( $(date +%s) - start )) s"
