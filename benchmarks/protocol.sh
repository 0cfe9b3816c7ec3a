#!/usr/bin/env bash
# The runs of benchmarks/PROTOCOL.md, stage by stage (`multitask` preset; Stage E: `default`). Every `compare`
# resumes where it stopped and skips finished arms, so re-running a stage after an interruption loses nothing.
#
#   benchmarks/protocol.sh headroom [SEEDS]   Stage B: w = r_tau and three fixed schedules (default seeds: 0 1 2)
#   benchmarks/protocol.sh select             ReAD variant choice on dev seeds 0-2 (banks: the other dev seeds)
#   benchmarks/protocol.sh confirm            Stage C: nine arms on fresh seeds 10-14 (bank: all dev-seed runs);
#                                             needs STAGE_C_READ (the variant chosen by select)
#   benchmarks/protocol.sh misspecified [SEEDS]   Stage D: a wrong card r on multitask (default seeds: 0 10 11 12 13 14;
#                                                 dev seeds 0-2 go to stageD_misspecified/dev, the others beside it)
#   benchmarks/protocol.sh wrongcard [SEEDS]      Stage E: a wrong card r on `default` (gsm8k), dev seed 0 by default:
#                                                 the headroom check, then both ReAD variants (stageE_wrongcard/dev);
#                                                 seeds 10-14 need STAGE_E_READ (the variant chosen on dev)
#
# Extra `key=value` overrides go in READ_RAY_OVERRIDES (e.g. resources for a GPU cluster); they apply to every arm
# and must be the same for every stage. Output: benchmarks/stageB_headroom, stageC_select, stageC_confirm,
# stageD_misspecified and stageE_wrongcard (dev seeds in their dev/ folders, so a glob over the confirmation arms
# never takes them).
set -euo pipefail
cd "$(dirname "$0")/.."
READ_RAY=${READ_RAY:-read-ray}
read -r -a EXTRA <<< "${READ_RAY_OVERRIDES:-}"
B=benchmarks/stageB_headroom
S=benchmarks/stageC_select
C=benchmarks/stageC_confirm
D=benchmarks/stageD_misspecified
E=benchmarks/stageE_wrongcard
RCARD='task.requirement={math: 0.6, code: 0.3, tool_use: 0.1}'   # Stage D's wrong card (the utility weighs the three equally)
GSM8K_RCARD='task.requirement={general_knowledge: 0.6, reasoning: 0.3, math: 0.1}'   # Stage E's (maths and gk swapped)
PRESET=multitask

arm() {  # arm OUT POLICY SEED [overrides...], on $PRESET
  local out=$1 policy=$2 seed=$3; shift 3
  "$READ_RAY" compare --config "$PRESET" --policies "$policy" --seeds "$seed" --out "$out" "$@" ${EXTRA[@]+"${EXTRA[@]}"}
}

dev_runs() {  # run folders of the multitask dev-seed arms for the given seeds (Stage B and selection arms)
  local seed
  for seed in "$@"; do ls -d "$B"/*/runs/*_seed"$seed" "$S"/*/runs/*_seed"$seed" 2>/dev/null || true; done
}

bank() {  # bank OUT SEED...: a transition bank from the dev-seed runs of these seeds
  local out=$1; shift
  local runs; runs=$(dev_runs "$@")
  [ -n "$runs" ] || { echo "no multitask runs on seeds $* under $B or $S: run '$0 headroom' first" >&2; exit 2; }
  # shellcheck disable=SC2086
  "$READ_RAY" bank --config multitask --from $runs --out "$out"
}

case "${1:-}" in
  headroom)
    shift; for seed in ${@:-0 1 2}; do
      arm "$B/task_static" task_static "$seed"
      arm "$B/math_code_tool" schedule "$seed" 'bandit.schedule=[{math: 1}, {code: 1}, {tool_use: 1}]'
      arm "$B/tool_code_math" schedule "$seed" 'bandit.schedule=[{tool_use: 1}, {code: 1}, {math: 1}]'
      arm "$B/code_tool_math" schedule "$seed" 'bandit.schedule=[{code: 1}, {tool_use: 1}, {math: 1}]'
    done ;;
  select)
    mkdir -p "$S/banks"
    for seed in 0 1 2; do arm "$S/read" read "$seed"; done   # no bank: the banks below are built from these
    for seed in 0 1 2; do   # every leave-one-seed-out bank before any warm arm, so none holds a warm arm's choices
      others=(); for o in 0 1 2; do [ "$o" != "$seed" ] && others+=("$o"); done
      [ -f "$S/banks/bank_not_seed$seed.json" ] || bank "$S/banks/bank_not_seed$seed.json" "${others[@]}"
    done
    for seed in 0 1 2; do
      arm "$S/read_warm_seed$seed" read "$seed" "bandit.bank_path=$S/banks/bank_not_seed$seed.json"
      arm "$S/read_warm_refit_seed$seed" read "$seed" "bandit.bank_path=$S/banks/bank_not_seed$seed.json" \
          reward.source=refit
    done ;;
  confirm)
    case ${STAGE_C_READ:-} in read|read_warm|read_warm_refit) ;; *)
      echo "set STAGE_C_READ=read, read_warm or read_warm_refit (the variant RESULTS.md named after '$0 select')" >&2
      exit 2 ;; esac
    mkdir -p "$C"
    if [ ! -f "$C/bank_dev_seeds.json" ]; then   # the bank takes every dev-seed run, so the selection must be whole
      done_arms=$( (find "$S" -path "*/arms/read_seed[012].json" 2>/dev/null || true) | wc -l)
      [ "$done_arms" = 9 ] || { echo "the selection has $done_arms of its 9 arms: finish '$0 select' first" >&2; exit 2; }
      bank "$C/bank_dev_seeds.json" 0 1 2
    fi
    confirm_arm() {  # confirm_arm NAME SEED
      case $1 in
        read_warm) arm "$C/read_warm" read "$2" "bandit.bank_path=$C/bank_dev_seeds.json" ;;
        read_warm_refit) arm "$C/read_warm_refit" read "$2" "bandit.bank_path=$C/bank_dev_seeds.json" reward.source=refit ;;
        frozen) arm "$C/frozen" frozen "$2" "bandit.bank_path=$C/bank_dev_seeds.json" ;;   # read_warm's first learned mix, held
        *) arm "$C/$1" "$1" "$2" ;;
      esac
    }
    # the decision rule's arms on every seed first, so a cut leaves whole triples; then the secondary arms
    for seed in 10 11 12 13 14; do for name in task_static grid "$STAGE_C_READ"; do confirm_arm "$name" "$seed"; done; done
    for seed in 10 11 12 13 14; do
      for name in single_cap uniform greedy read read_warm read_warm_refit frozen; do
        [ "$name" = "$STAGE_C_READ" ] || confirm_arm "$name" "$seed"
      done
    done ;;
  misspecified)
    shift; for seed in ${@:-0 10 11 12 13 14}; do
      out=$D; case $seed in 0|1|2) out=$D/dev ;; esac    # seed 0: the headroom check (and a dev look at read)
      arm "$out/task_static_rcard" task_static "$seed" "$RCARD"
      arm "$out/read_refit_rcard" read "$seed" "$RCARD" reward.source=refit reward.refit_prior_weight=0.1
    done ;;
  wrongcard)
    PRESET=default
    shift
    for seed in ${@:-0}; do   # a confirmation seed needs the chosen variant named first
      case $seed in 0|1|2) ;; *) case ${STAGE_E_READ:-} in read_refit_rcard|read_warm_refit_rcard) ;; *)
        echo "seed $seed is a confirmation seed: set STAGE_E_READ=read_refit_rcard or read_warm_refit_rcard" \
             "(the variant RESULTS.md named on dev)" >&2; exit 2 ;; esac ;; esac
    done
    for seed in ${@:-0}; do   # the primary pair (the bar and ReAD) on every seed first, so a cut leaves pairs
      out=$E; case $seed in 0|1|2) out=$E/dev ;; esac
      if [ "$out" = "$E" ]; then
        bank=$E/bank_dev_seeds.json
        [ -f "$bank" ] || "$READ_RAY" bank --from benchmarks/compare_default*/runs/*_seed[012]* --out "$bank"
      else
        bank=benchmarks/stageA_default/banks/bank_not_seed$seed.json
        arm "$out/task_static" task_static "$seed" bandit.dev_every_rounds=1   # dev: the headroom reference
      fi
      arm "$out/task_static_rcard" task_static "$seed" "$GSM8K_RCARD" bandit.dev_every_rounds=1
      # dev seeds: both ReAD variants; confirmation seeds: the one RESULTS.md named (STAGE_E_READ)
      if [ "$out" != "$E" ] || [ "${STAGE_E_READ:-}" = read_refit_rcard ]; then
        arm "$out/read_refit_rcard" read "$seed" "$GSM8K_RCARD" bandit.dev_every_rounds=1 \
            reward.source=refit reward.refit_prior_weight=0.1
      fi
      if [ "$out" != "$E" ] || [ "${STAGE_E_READ:-}" = read_warm_refit_rcard ]; then
        arm "$out/read_warm_refit_rcard" read "$seed" "$GSM8K_RCARD" bandit.dev_every_rounds=1 \
            reward.source=refit reward.refit_prior_weight=0.1 "bandit.bank_path=$bank"
      fi
    done
    for seed in ${@:-0}; do   # confirmation seeds: the right card's w = r (the ceiling, reported beside)
      case $seed in 0|1|2) ;; *) arm "$E/task_static" task_static "$seed" bandit.dev_every_rounds=1 ;; esac
    done ;;
  *)
    sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
