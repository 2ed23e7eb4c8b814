#!/usr/bin/env bash
# Sweep BERT sizes x batch sizes on CoLA: for each run, start `bertlogs collect --docker`, launch the
# container, wait, and record the outcome. A failed or out-of-memory run is recorded as such; the sweep goes on.
#
# Usage: sweep.sh --bert-src DIR --models-root DIR --glue-dir DIR --out DIR [--gpu ID]
#          [--models "Tiny Mini Small Medium Base"] [--batch-sizes "2 4 8 16 32 64"] [--allow-growth] [--dry-run]
# Model directories are looked up as MODELS_ROOT/<model> (e.g. MODELS_ROOT/Tiny holding bert_config.json).
# Results: OUT/raw/<model>-bs<N>-<time>/ (the raw archive) and OUT/sweep.tsv (one line per run).
set -euo pipefail

usage() { sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

here=$(cd "$(dirname "$0")" && pwd)
models="Tiny Mini Small Medium Base" batch_sizes="2 4 8 16 32 64" gpu=0
bert_src="" models_root="" glue_dir="" out="" extra=() dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bert-src) bert_src=$2; shift 2 ;;
    --models-root) models_root=$2; shift 2 ;;
    --glue-dir) glue_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --gpu) gpu=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --batch-sizes) batch_sizes=$2; shift 2 ;;
    --allow-growth) extra+=(--allow-growth); shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "sweep.sh: unknown option $1" >&2; usage ;;
  esac
done
for required in bert_src models_root glue_dir out; do
  if [ -z "${!required}" ]; then echo "sweep.sh: --${required//_/-} is required" >&2; usage; fi
done

[ "$dry_run" = 1 ] || mkdir -p "$out/raw" "$out/output"
[ "$dry_run" = 1 ] || [ -f "$out/sweep.tsv" ] || printf 'model\tbatch_size\trun_id\texit_code\tstatus\n' > "$out/sweep.tsv"
for model in $models; do
  for bs in $batch_sizes; do
    run_id="$model-bs$bs-$(date -u +%Y%m%dT%H%M%SZ)"
    name="bertlogs-$run_id"
    name=${name,,}
    [ "$dry_run" = 1 ] || mkdir -p "$out/output/$run_id"  # fresh: re-using one resumes or skips training
    launch=("$here/run_classifier_cola.sh" --bert-src "$bert_src" --model-dir "$models_root/$model"
      --glue-dir "$glue_dir" --output-dir "$out/output/$run_id" --batch-size "$bs" --name "$name" --gpu "$gpu"
      "${extra[@]}")
    collect=(bertlogs collect --docker "$name" --out "$out/raw" --run-id "$run_id" --gpu "$gpu"
      --label "model=$model" --label "batch_size=$bs" --tfevents "$out/output/$run_id")
    if [ "$dry_run" = 1 ]; then
      printf '%q ' "${collect[@]}"; printf '&\n'
      "${launch[@]}" --dry-run
      continue
    fi
    "${collect[@]}" &
    collector=$!
    if ! "${launch[@]}" >/dev/null; then
      echo "sweep.sh: $run_id: container did not start" >&2
    fi
    code=0
    wait "$collector" || code=$?
    status=ok
    if [ "$code" != 0 ]; then
      status=failed
      if grep -q -e ResourceExhaustedError -e 'OOM when allocating' "$out/raw/$run_id/train.log" 2>/dev/null; then
        status="out-of-memory"
      fi
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$model" "$bs" "$run_id" "$code" "$status" >> "$out/sweep.tsv"
    docker rm "$name" >/dev/null 2>&1 || true
  done
done
echo "sweep.sh: done; analyse with: bertlogs analyze $out/raw --out $out/report"
