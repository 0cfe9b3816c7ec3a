#!/usr/bin/env bash
# prune_finished_runs.sh COMPARE_FOLDER...: free the disk a finished `compare` arm no longer needs.
#
# A run keeps every round's student checkpoint (rounds/*/student), its initial student and Ray Train's
# storage (train/): about 2.2 GB for an 8-round `multitask` arm on the default student, so a long protocol
# stage fills a disk (Stage C's confirmation stopped on a full disk after 3 arms on top of the selection's 9).
# This deletes those folders only for runs whose arm is finished (arms/<run>.json, or for a grid pilot
# arms/grid_seed<s>.pilots.json): a skipped arm never reads them, and every light file (records, plans,
# batches, reports) stays. An unfinished run is left whole, so it still resumes from its last complete round.
# A run made with `run.keep_round_students=1` (code after the Stage C code of record) removes its older round
# students itself while it runs; this script is still what frees a finished arm's last student and the
# initial one, and what frees the runs made on eda6464.
set -euo pipefail
for out in "$@"; do
  [ -d "$out/arms" ] || { echo "$out: no arms/ folder: not a compare output" >&2; exit 2; }
  for run in "$out"/runs/*/; do
    [ -d "$run" ] || continue
    name=$(basename "$run")
    case $name in
      *_pilot*) done_file=$out/arms/${name%_pilot*}.pilots.json ;;
      *) done_file=$out/arms/$name.json ;;
    esac
    [ -f "$done_file" ] || continue
    rm -rf "$run"/rounds/*/student "$run/train" "$run/student_init"
  done
done
