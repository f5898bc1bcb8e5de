#!/usr/bin/env bash
# Regenerates leaderboard/boards/ from the two real prediction files in ../shared/data/predictions:
# scores each with `markupeval score` (add --no-images to skip rendering) and writes the board in
# every format. Usage: leaderboard/make_boards.sh [--no-images]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
MARKUPEVAL=${MARKUPEVAL:-.venv/bin/markupeval}
RUNS=${RUNS:-runs}
mkdir -p "$RUNS" leaderboard/boards
for name in resultsT results65_100; do
  "$MARKUPEVAL" score "$DATA/predictions/$name.txt" \
    --gold "$DATA/im2latex100k/tgt-test-old.txt" --names "$DATA/im2latex100k/src-test-old.txt" \
    --json "$RUNS/$name.json" "$@" >/dev/null
done
for fmt in markdown latex csv html; do
  ext=$fmt; [ "$fmt" = markdown ] && ext=md; [ "$fmt" = latex ] && ext=tex
  "$MARKUPEVAL" leaderboard "$RUNS/resultsT.json" "$RUNS/results65_100.json" --format "$fmt" --out "leaderboard/boards/board.$ext"
done
"$MARKUPEVAL" leaderboard "$RUNS/resultsT.json" "$RUNS/results65_100.json" --format rich --out leaderboard/boards/board.txt
echo "wrote leaderboard/boards/board.{md,tex,csv,html,txt}"
