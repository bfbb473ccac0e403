#!/usr/bin/env bash
# The MNIST memorisation transition (issue 26): for each N, two small UNets trained with one recipe on two disjoint
# N-digit blocks of the 4,500 training digits (train.py --subset_size N --subset_index 0|1, init seeds 0|1).
# Usage: bash scripts/train_transition_mnist.sh [STEPS] [N …]   (defaults: 6000 steps; N = 16 2250 256)
# A and B train at once, one thread each. Each model folder gets training_data.json (its subset's indices) and training_summary.json (its wall time);
# models/transition-mnist/walltimes.tsv collects the wall times.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-6000}
shift || true
SIZES=("${@:-16 2250 256}")
OUT=models/transition-mnist
mkdir -p "$OUT"
train_one() {  # N K: model A (K = 0) or B (K = 1) of the pair at N
  local N=$1 K=$2
  local DIR="$OUT/n$N-$([ "$K" = 0 ] && echo a || echo b)"
  local START=$(date +%s)
  python train.py --output_dir "$DIR" --dataset mnist --subset_size "$N" --subset_index "$K" --subset_seed 0 \
      --seed "$K" --block_out_channels 16 32 32 --layers_per_block 1 --no_attention \
      --train_batch_size 16 --learning_rate 1e-3 --lr_warmup_steps 200 --max_train_steps "$STEPS" \
      --checkpointing_steps 1000 --checkpoints_total_limit 1 --save_images_steps "$STEPS" \
      --num_inference_steps 50 --logger none --num_threads 1 --resume_from_checkpoint latest
  echo -e "$DIR\t$N\t$K\t$STEPS\t$(( $(date +%s) - START ))" >> "$OUT/walltimes.tsv"
}
for N in ${SIZES[@]}; do  # A and B of one N at once, one thread each (2 cores)
  train_one "$N" 0 &
  train_one "$N" 1 &
  wait
done
