#!/usr/bin/env bash
# Times nibble's int8 GEMM (bench_int8's paired table) and PyTorch 1.13's quantized Linear
# (bench/torch_qlinear.py, Debian's python3-torch) back to back on the same shapes and thread
# counts, and prints one markdown table of GOP/s medians with ratios nibble/PyTorch (> 1: nibble
# is faster). GOP/s = 2*M*N*K / s for every column, quantization overheads included in the time.
#   bench/compare_int8.sh [build-dir] [rounds]
# Columns: int8 = int8_gemm_s32 with packed weights (u8 in, s32 out); PyTorch qlinear =
# torch.ao.nn.quantized.Linear (quint8 in and out), best engine per row; "f32 in/out" =
# nn::QuantizedLinear::forward vs PyTorch quantize_per_tensor + qlinear + dequantize, both with a
# static input range; oneDNN = bench_int8's own dnnl::matmul u8s8s32, from the same nibble run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
rounds="${2:-11}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# Passive OpenMP workers sleep instead of spinning between calls: on a 2-core machine a spinning
# idle worker steals the core the 1-thread rows (and anything else running) need.
# The filter runs one tiny benchmark only so that Google Benchmark still prints its context
# (CPU, int8 kernel, oneDNN implementation and whether it is exact); then the paired table.
OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" "$build/bench/bench_int8" \
  --benchmark_filter='quantize_u8/dispatch.*/784$' --paired_rounds="$rounds" --paired_kv |
  tee "$out/nibble.txt"
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "python3-torch is not installed: apt-get install python3-torch (skipping the comparison)"
  exit 0
fi
# The quantized ops do not use OpenBLAS; the two variables are unset anyway so that PyTorch runs
# in the same configuration as in compare_training.sh (they pin OpenBLAS to slower kernels).
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
  /usr/bin/python3 "$root/bench/torch_qlinear.py" "$rounds" | tee "$out/torch.txt"
echo
cat "$out/nibble.txt" "$out/torch.txt" | awk '
  function fields(line,   f, n, i, kv) {  # "name k1=v1 k2=v2 ..." -> F[k] = v
    split("", F); n = split(line, f, " ")
    for (i = 2; i <= n; i++) if (split(f[i], kv, "=") == 2) F[kv[1]] = kv[2]
  }
  function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
  function gops(g, e) { return g > 0 ? sprintf("%.1f%s", g, e != "" ? " " e : "") : "-" }
  $1 == "nibble_int8" {
    fields($0); key = F["M"] "x" F["N"] "x" F["K"] " | " F["threads"]; order[++rows] = key
    int8[key] = F["int8"]; u7[key] = F["u7"]; qlin[key] = F["qlinear"]; dnnl[key] = F["onednn"]
    kernel = F["kernel"]
  }
  $1 == "torch_qlinear" && /gops=/ {  # keep the best engine per row, for each figure separately
    fields($0); key = F["M"] "x" F["N"] "x" F["K"] " | " F["threads"]
    if (F["gops"] + 0 > tq[key] + 0) { tq[key] = F["gops"]; tqe[key] = F["engine"] }
    if (F["gops_with_quant"] + 0 > tf[key] + 0) { tf[key] = F["gops_with_quant"]; tfe[key] = F["engine"] }
  }
  END {
    print "| M x N x K | thr | int8 " kernel " | PyTorch qlinear | int8 / PyTorch " \
          "| QuantizedLinear f32 in/out | PyTorch quant + qlinear + dequant | f32 in/out ratio " \
          "| oneDNN u8s8s32 | int8 / oneDNN | int8 avx2u7 (7-bit) | avx2u7 / PyTorch |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= rows; i++) {
      k = order[i]
      print "| " k " | " gops(int8[k], "") " | " gops(tq[k], tqe[k]) " | " ratio(int8[k], tq[k]) \
            " | " gops(qlin[k], "") " | " gops(tf[k], tfe[k]) " | " ratio(qlin[k], tf[k]) \
            " | " gops(dnnl[k], "") " | " ratio(int8[k], dnnl[k]) \
            " | " gops(u7[k], "") " | " ratio(u7[k], tq[k]) " |"
    }
  }'
