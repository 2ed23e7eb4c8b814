#!/usr/bin/env bash
# Sweep the BERT miniatures x batch sizes on CoLA with Hugging Face's run_glue.py (Trainer), each run under
# `bertlogs collect`: train.log, gpu.csv (10 Hz, NVML) and meta.json, the TensorBoard event files
# (`--report_to tensorboard`), then the run's trainer_state.json and config.json copied in beside them.
# The layout of fixtures/cola-sweep-hf/ (made by fixtures/make_cola_sweep_hf.py) is what this writes.
#
# Usage: run_glue_cola.sh --run-glue PATH --out DIR [--python PY] [--gpu ID] [--epochs 5]
#          [--models "Tiny Mini Small Medium Base"] [--batch-sizes "2 4 8 16 32 64"] [--dry-run]
# PATH: transformers' examples/pytorch/text-classification/run_glue.py. Results: OUT/raw/<model>-bs<N>/
# (an existing run directory is skipped: re-running resumes a sweep), OUT/output/<model>-bs<N>/ (the model).
# --dry-run prints the commands instead of running them.
set -euo pipefail

usage() { sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

models="Tiny Mini Small Medium Base" batch_sizes="2 4 8 16 32 64" gpu=0 epochs=5 python=python3
run_glue="" out="" dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --run-glue) run_glue=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --gpu) gpu=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --batch-sizes) batch_sizes=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "run_glue_cola.sh: unknown option $1" >&2; usage ;;
  esac
done
for required in run_glue out; do
  if [ -z "${!required}" ]; then echo "run_glue_cola.sh: --${required//_/-} is required" >&2; usage; fi
done

# the miniatures' hub names: L layers, H hidden, A attention heads (H / 64)
declare -A shape=([Tiny]=L-2_H-128_A-2 [Mini]=L-4_H-256_A-4 [Small]=L-4_H-512_A-8 [Medium]=L-8_H-512_A-8
  [Base]=L-12_H-768_A-12)

run() {  # print the command (dry run) or run it
  if [ "$dry_run" = 1 ]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}

for model in $models; do
  if [ -z "${shape[$model]:-}" ]; then echo "run_glue_cola.sh: unknown model $model (${!shape[*]})" >&2; exit 2; fi
  for bs in $batch_sizes; do
    case "$bs" in ''|*[!0-9]*) echo "run_glue_cola.sh: batch size $bs is not a number" >&2; exit 2 ;; esac
    run_id="${model,,}-bs$bs"
    output="$out/output/$run_id"
    if [ -e "$out/raw/$run_id" ]; then echo "run_glue_cola.sh: $out/raw/$run_id exists; skipped" >&2; continue; fi
    # TQDM_MININTERVAL: one progress-bar redraw a second (tqdm's default, 0.1 s, makes train.log 10x larger)
    code=0
    run bertlogs collect --out "$out/raw" --run-id "$run_id" --gpu "$gpu" --tfevents "$output" \
      --label "model=$model" --label "batch_size=$bs" -- \
      env CUDA_VISIBLE_DEVICES="$gpu" TQDM_MININTERVAL=1 "$python" "$run_glue" \
      --model_name_or_path "google/bert_uncased_${shape[$model]}" --task_name cola --do_train --do_eval \
      --max_seq_length 128 --per_device_train_batch_size "$bs" --learning_rate 2e-5 --num_train_epochs "$epochs" \
      --eval_strategy epoch --save_strategy no --report_to tensorboard --seed 42 --output_dir "$output" \
      || code=$?
    if [ "$code" != 0 ]; then echo "run_glue_cola.sh: $run_id: exit code $code (see $out/raw/$run_id)" >&2; fi
    for record in trainer_state.json config.json; do
      if [ "$dry_run" = 1 ] || [ -f "$output/$record" ]; then run cp "$output/$record" "$out/raw/$run_id/"; fi
    done
  done
done
echo "run_glue_cola.sh: done; analyse with: bertlogs analyze $out/raw --out $out/report" >&2
