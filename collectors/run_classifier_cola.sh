#!/usr/bin/env bash
# Launch google-research/bert run_classifier.py on CoLA in tensorflow/tensorflow:1.15.5-gpu-py3, detached.
# Pair it with `bertlogs collect --docker NAME` (started first: it waits for the container).
#
# Usage: run_classifier_cola.sh --bert-src DIR --model-dir DIR --glue-dir DIR --output-dir DIR
#          --batch-size N --name NAME [--gpu ID] [--epochs 5] [--allow-growth] [--image IMG] [--dry-run]
set -euo pipefail

usage() { sed -n '2,/^set -/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

image="tensorflow/tensorflow:1.15.5-gpu-py3"
gpu=0 epochs=5.0 allow_growth=0 dry_run=0
bert_src="" model_dir="" glue_dir="" output_dir="" batch_size="" name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bert-src) bert_src=$2; shift 2 ;;
    --model-dir) model_dir=$2; shift 2 ;;
    --glue-dir) glue_dir=$2; shift 2 ;;
    --output-dir) output_dir=$2; shift 2 ;;
    --batch-size) batch_size=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --gpu) gpu=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --allow-growth) allow_growth=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "run_classifier_cola.sh: unknown option $1" >&2; usage ;;
  esac
done
for required in bert_src model_dir glue_dir output_dir batch_size name; do
  if [ -z "${!required}" ]; then echo "run_classifier_cola.sh: --${required//_/-} is required" >&2; usage; fi
done
case "$batch_size" in ''|*[!0-9]*) echo "run_classifier_cola.sh: --batch-size must be a number" >&2; exit 2 ;; esac

command=(docker run --detach --name "$name" --gpus "device=$gpu"
  # utility: NVML and nvidia-smi inside the container; compute: CUDA
  --env "NVIDIA_DRIVER_CAPABILITIES=compute,utility")
if [ "$allow_growth" = 1 ]; then
  # without it TF 1.x reserves nearly the whole card and memory figures say nothing about the model
  command+=(--env TF_FORCE_GPU_ALLOW_GROWTH=true)
fi
command+=(--volume "$bert_src:/bert:ro" --volume "$model_dir:/model:ro" --volume "$glue_dir:/glue:ro"
  --volume "$output_dir:/output" "$image"
  python /bert/run_classifier.py --task_name=CoLA --do_train=true --do_eval=true --data_dir=/glue/CoLA
  --vocab_file=/model/vocab.txt --bert_config_file=/model/bert_config.json
  --init_checkpoint=/model/bert_model.ckpt --max_seq_length=128 --train_batch_size="$batch_size"
  --learning_rate=2e-5 --num_train_epochs="$epochs" --output_dir=/output)

if [ "$dry_run" = 1 ]; then
  printf '%q ' "${command[@]}"
  printf '\n'
else
  "${command[@]}"
fi
