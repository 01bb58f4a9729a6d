#!/bin/sh
# The reward-variance regime map (issue 14): one `grpovi compare` per regime in examples/regimes/.
#
#   scripts/regime-map.sh            print the compare commands (default)
#   scripts/regime-map.sh run        run them one after the other (skips finished runs, resumes partial ones)
#   scripts/regime-map.sh plan       print one command per run of every regime (compare --plan), for
#                                    xargs -P / GNU parallel / a SLURM job array / a Kubernetes Indexed Job
#   scripts/regime-map.sh adaptive   per regime and algorithm: seed 0 over the grid until the best rate is
#                                    bracketed, then all seeds at the best rate (scripts/regime-adaptive.ts;
#                                    what the README's table was made with; skips finished runs)
#   scripts/regime-map.sh table      the README table and plot from the finished folders
#
# Environment: OUT (default runs/regimes), SEEDS (5), LRS (the learning-rate grid), JOBS (2),
# GRPOVI (how to call the CLI, default "npx grpovi"), ONLY (a grep pattern on regime names),
# EXTRA (more compare options, e.g. "--steps 2" for a smoke run), TABLE_OUT (docs/results/regimes),
# START (adaptive: the first rates of each search, default 1e-3,3e-3,1e-2; the README says which cells
# started where).
set -eu
cd "$(dirname "$0")/.."
MODE=${1:-print}
OUT=${OUT:-runs/regimes}
SEEDS=${SEEDS:-5}
JOBS=${JOBS:-2}
GRPOVI=${GRPOVI:-npx grpovi}
ONLY=${ONLY:-.}
EXTRA=${EXTRA:-}
TABLE_OUT=${TABLE_OUT:-docs/results/regimes}
# Brackets every best rate seen so far (3e-4 to 1e-2); a best rate at an edge is marked "(edge)" in
# the table: extend LRS for that regime and rerun (finished runs are kept).
LRS=${LRS:-1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1}

# The beta-scaled cells test an explanation (the KL balance under AdamW): GRPO only. The variant cells
# (-s0.5: grpovi_strength 0.5 on the most compressed rewards; -m0.1: grpovi_max_std 0.1, adjusting only
# the bunched groups where groups differ in variance) are GRPOVI only: their GRPO is the base cell's.
algos() {
  case "$1" in
    none-t3-b0.0133 | none-t10-b0.004) echo "grpo" ;;
    *-s0.5 | *-m0.1) echo "grpovi" ;;
    *) echo "grpo,grpovi" ;;
  esac
}

command_for() {
  name=$1
  echo "$GRPOVI compare --config examples/regimes/$name.json --seeds $SEEDS --algos $(algos "$name") --sweep lr=$LRS --jobs $JOBS --out $OUT/$name $EXTRA"
}

regimes() {
  for file in examples/regimes/*.json; do basename "$file" .json; done | grep -e "$ONLY"
}

case "$MODE" in
  print) for name in $(regimes); do command_for "$name"; done ;;
  run) for name in $(regimes); do sh -c "$(command_for "$name")"; done ;;
  plan) for name in $(regimes); do sh -c "$(command_for "$name") --plan --plan-command '$GRPOVI'"; done ;;
  adaptive)
    # One BLAS thread per run, as the README's table was made (a run is bit-identical only with the
    # same backend and thread count).
    export GRPOVI_BLAS_THREADS="${GRPOVI_BLAS_THREADS:-1}"
    for name in $(regimes); do
      npx tsx scripts/regime-adaptive.ts --config "examples/regimes/$name.json" --out "$OUT/$name" \
        --algos "$(algos "$name")" --seeds "$SEEDS" --jobs "$JOBS" --grid "$LRS" --start "${START:-1e-3,3e-3,1e-2}" --grpovi "$GRPOVI"
    done ;;
  table) sh -c "npm run --silent regime-table -- --out $TABLE_OUT $(for name in $(regimes); do [ -f "$OUT/$name/comparison.json" ] && printf '%s ' "$OUT/$name"; done)" ;;
  *) echo "usage: scripts/regime-map.sh [print|run|plan|adaptive|table]" >&2; exit 2 ;;
esac
