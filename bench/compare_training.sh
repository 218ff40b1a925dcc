#!/usr/bin/env bash
# Times one training epoch of the Fashion-MNIST MLP and CNN in nibble and in PyTorch (Debian's
# python3-torch 1.13), in the same run, and prints nibble/PyTorch ratios (< 1: nibble is faster).
#   bench/compare_training.sh [build-dir] [threads] [epochs]
# PyTorch gets its best configuration: torch.set_num_threads(threads), OPENBLAS_NUM_THREADS=1
# (two thread pools fighting over 2 cores slow it down), and OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
# unset for this run only (they pin OpenBLAS to slower kernels on this kind of machine).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
threads="${2:-2}"
epochs="${3:-3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$build/bench/bench_train" "$threads" "$epochs" | tee "$out/nibble.txt"
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "python3-torch is not installed: apt-get install python3-torch (skipping the comparison)"
  exit 0
fi
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
  /usr/bin/python3 "$root/bench/train_torch.py" "$threads" "$epochs" | tee "$out/torch.txt"
echo
echo "figure                          nibble    pytorch   nibble/pytorch"
join <(awk '{print $2, $3}' "$out/nibble.txt" | sort) <(awk '{print $2, $3}' "$out/torch.txt" | sort) |
  awk '{printf "%-30s %9.3f %9.3f   %.2f\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0)}'
