#!/usr/bin/env bash
# The synthetic-share ablation of the reference recipe (issue 14, step 2): the same IM2TEX small
# run, the same seed and the same wall-clock budget, on the real training formulas plus a growing
# share of synthetic ones, each selected and scored on the shipped 500-image validation slice
# only. The test set is never read.
#
# The runs go side by side, one torch thread each, so every share gets the same CPU (on a
# 2-core machine three runs share two cores: their images/s are equal, not their absolute speed).
#
#   baselines/synthetic_share.sh                 # shares 0 25 48 (%), 55 minutes each
#   SHARES="0 48" MINUTES=20 baselines/synthetic_share.sh
#
# Needs `markupeval data reference --out data/reference --synthetic 12000` (real/ and
# synth-12000-seed0/). A share s takes the first round(n_real * s / (100 - s)) synthetic
# formulas (all of them when that is more): `--train-limit` counts the real set first, then the
# synthetic one, in list order. Each share writes OUT/share-<s>/ (checkpoints, history,
# val-results.txt, val-run.json); a second call reuses what is done.
set -euo pipefail

DATA=${DATA:-data/reference}
REAL=${REAL:-$DATA/real}
SYNTH=${SYNTH:-$DATA/synth-12000-seed0}
OUT=${OUT:-runs/synthetic-share}
SHARES=${SHARES:-"0 25 48"}
MINUTES=${MINUTES:-55}
SIZE=${SIZE:-small}
MARKUPEVAL=${MARKUPEVAL:-markupeval}
VAL_LIMIT=${VAL_LIMIT:-}        # rehearsals only: predict the first N slice images

n_real=$(grep -c . "$REAL/train_filter.lst")
n_synth=$(grep -c . "$SYNTH/train_filter.lst")
mkdir -p "$OUT"

one_share() {
    local share=$1 dir=$OUT/share-$1 k limit
    k=$(( (n_real * share + (100 - share) / 2) / (100 - share) ))
    (( k > n_synth )) && k=$n_synth
    limit=$(( n_real + k ))
    mkdir -p "$dir"
    echo "share $share %: $n_real real + $k synthetic = $limit training formulas" > "$dir/data.txt"
    if [[ ! -f $dir/trained ]]; then
        local resume=()
        [[ -f $dir/last.pt ]] && resume=(--resume)
        "$MARKUPEVAL" baseline train im2tex --data "$REAL" "$SYNTH" --train-limit "$limit" --out "$dir" \
            --size "$SIZE" --precision bf16 --optimizer adam --lr 0.002 --batch-size 20 --threads 1 \
            --device cpu --epochs 60 --max-minutes "$MINUTES" --checkpoint-every 100 "${resume[@]}"
        touch "$dir/trained"
    fi
    if [[ ! -f $dir/val-results.txt ]]; then
        "$MARKUPEVAL" baseline predict im2tex --data "$REAL" --split validate --checkpoint "$dir/best.pt" \
            --out "$dir/val-predictions.jsonl" --results "$dir/val-results.txt.part" \
            --beam 5 --batch-size 48 --threads 1 --device cpu ${VAL_LIMIT:+--limit "$VAL_LIMIT"}
        mv "$dir/val-results.txt.part" "$dir/val-results.txt"
    fi
}

pids=()
for share in $SHARES; do
    one_share "$share" > "$OUT/share-$share.log" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
(( status == 0 )) || { echo "a share failed: see $OUT/share-*.log" >&2; exit 1; }

# Scored one after another: rendering is the heavy part, and the render cache is shared.
for share in $SHARES; do
    dir=$OUT/share-$share
    [[ -f $dir/val-run.json ]] || "$MARKUPEVAL" score "$dir/val-results.txt" --format results --cdm \
        --name "synthetic-$share" --json "$dir/val-run.json"
done
"$MARKUPEVAL" leaderboard "$OUT"/share-*/val-run.json
