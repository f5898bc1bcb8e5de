#!/usr/bin/env bash
# Regenerates leaderboard/boards/ from predictions alone: the two real prediction files in
# ../shared/data/predictions and every measured row shipped under leaderboard/runs/<name>/
# (predictions.jsonl, scored with the arguments in its score.args). Each is scored afresh with
# `markupeval score` with every metric, CDM included (about 20 minutes on 2 cores with the render
# cache warm from an earlier run); a shipped row's run file is rewritten in place, so
# `git diff leaderboard/runs` shows whether a re-score changed a number.
# Usage: leaderboard/make_boards.sh [more markupeval score options]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MARKUPEVAL=${MARKUPEVAL:-.venv/bin/markupeval}
RUNS=${RUNS:-runs}
mkdir -p "$RUNS" leaderboard/boards
runs=()
for name in resultsT results65_100; do
  "$MARKUPEVAL" score "$DATA/predictions/$name.txt" \
    --gold "$DATA/im2latex100k/tgt-test-old.txt" --names "$DATA/im2latex100k/src-test-old.txt" \
    --cdm --json "$RUNS/$name.json" "$@" >/dev/null
  runs+=("$RUNS/$name.json")
done
for dir in leaderboard/runs/*/; do
  dir=${dir%/}
  [ -f "$dir/predictions.jsonl" ] || continue
  # score.args: the gold this row is scored against, with {DATA} for the shared data folder.
  read -r -a args <<< "$(sed "s|{DATA}|$DATA|g" "$dir/score.args")"
  "$MARKUPEVAL" score "$dir/predictions.jsonl" "${args[@]}" --name "$(basename "$dir")" \
    --cdm --json "$dir/run.json" "$@" >/dev/null
  runs+=("$dir/run.json")
done
for fmt in markdown latex csv html; do
  ext=$fmt; [ "$fmt" = markdown ] && ext=md; [ "$fmt" = latex ] && ext=tex
  "$MARKUPEVAL" leaderboard "${runs[@]}" --format "$fmt" --out "leaderboard/boards/board.$ext"
done
"$MARKUPEVAL" leaderboard "${runs[@]}" --format rich --out leaderboard/boards/board.txt
echo "scored ${#runs[@]} runs; wrote leaderboard/boards/board.{md,tex,csv,html,txt}"
