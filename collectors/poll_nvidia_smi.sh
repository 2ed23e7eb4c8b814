#!/usr/bin/env bash
# GPU telemetry on a host with nvidia-smi but no Python: ONE long-lived nvidia-smi process on its own
# millisecond loop (no process per sample, no `watch` drift), CSV with header and timestamps.
# `bertlogs analyze` reads the file; its timestamps are local time: pass --utc-offset if you analyse elsewhere.
#
# Usage: poll_nvidia_smi.sh OUTPUT.csv [INTERVAL_MS (default 100)] [GPU_IDS e.g. 0,1]
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi
output=$1 interval_ms=${2:-100} ids=${3:-}
case "$interval_ms" in ''|*[!0-9]*) echo "poll_nvidia_smi.sh: INTERVAL_MS must be a number" >&2; exit 2 ;; esac
if [ -e "$output" ]; then echo "poll_nvidia_smi.sh: $output exists; not overwriting" >&2; exit 1; fi

query=timestamp,index,name,uuid,power.draw,power.limit,memory.used,memory.total,utilization.gpu
query+=,utilization.memory,temperature.gpu,clocks.sm,pstate
command=(nvidia-smi "--query-gpu=$query" --format=csv -lms "$interval_ms")
if [ -n "$ids" ]; then command+=("--id=$ids"); fi
exec "${command[@]}" > "$output"
