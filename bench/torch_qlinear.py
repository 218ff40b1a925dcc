#!/usr/bin/python3
"""PyTorch anchor for bench_int8: PyTorch 1.13's quantized Linear on the shapes bench_int8 times
(M=N=K in {256, 512, 1024}; Linear layers M in {1, 64}, N=256, K=784), 1 and 2 threads.

PyTorch's int8 path is torch.ao.nn.quantized.Linear: quint8 activations (per-tensor scale and zero
point) x qint8 weights (symmetric, one scale per output channel, pre-packed by the engine) + float
bias -> quint8 output. Two figures per configuration, GOP/s = 2*M*N*K / s:
  gops             qlinear(xq) alone, quint8 in and out (the GEMM plus requantization);
  gops_with_quant  quantize_per_tensor(x) + qlinear + dequantize(), float in and out, i.e. the
                   same work as nibble's nn::QuantizedLinear::forward with static ranges.
Both x86 engines of Debian's build are timed, onednn (the default) and qnnpack (there is no
fbgemm); an engine that is missing or fails is skipped with the reason. compare_int8.sh keeps the
faster one per row: onednn on the large shapes, qnnpack at M=1 (~18 us fixed cost per call vs
onednn's ~43 us).

Timing as bench_int8's paired table: warm up, size a burst of calls to last ~30 ms, then ROUNDS
rounds of one burst of each figure back to back; medians. Run through bench/compare_int8.sh.
  bench/torch_qlinear.py [rounds]
Prints one line per (engine, shape, threads), plus one exactness line per engine:
  torch_qlinear engine=onednn M=64 N=256 K=784 threads=2 gops=123.4 gops_with_quant=98.7
"""
import statistics
import sys
import time

import torch

try:
    import torch.ao.nn.quantized as nnq  # the 1.13 name
except ImportError:
    import torch.nn.quantized as nnq

SHAPES = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (1, 256, 784), (64, 256, 784)]
THREADS = [1, 2]
BURST_S = 0.03


def affine_u8(lo, hi):
    """Scale and zero point covering [min(lo, 0), max(hi, 0)] with 256 levels (nibble's rule)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255 if hi > lo else 1.0
    return scale, int(min(255, max(0, round(-lo / scale))))


def per_channel_qint8(w):
    """Symmetric per-output-channel qint8 weights, nibble's rule: scale max|W[n,:]| / 127."""
    n = w.shape[0]
    sw = (w.abs().amax(dim=1) / 127).clamp(min=1e-8).double()
    return torch.quantize_per_channel(w, sw, torch.zeros(n, dtype=torch.long), 0, torch.qint8)


def make_qlinear(qw, b, out_scale, out_zp):
    """Quantized Linear; set_weight_bias packs the weights for the current engine."""
    layer = nnq.Linear(qw.shape[1], qw.shape[0], dtype=torch.qint8)
    layer.set_weight_bias(qw, b)
    layer.scale, layer.zero_point = float(out_scale), int(out_zp)
    return layer


def burst_gops(fn, ops, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return ops * calls / (time.perf_counter() - start) * 1e-9


def time_shape(m, n, k, rounds):
    """Figures for one engine and shape, per thread count: {threads: (gops, gops_with_quant)}."""
    torch.manual_seed(0)
    x = torch.randn(m, k) + 0.5                           # activations: no longer centred on 0
    w = torch.randn(n, k) * (1 / k) ** 0.5                # Kaiming-like weights
    b = torch.randn(n) * 0.1
    sa, za = affine_u8(x.min().item(), x.max().item())    # static range, as after calibration
    y = torch.nn.functional.linear(x, w, b)
    so, zo = affine_u8(y.min().item(), y.max().item())
    layer = make_qlinear(per_channel_qint8(w), b, so, zo)
    xq = torch.quantize_per_tensor(x, sa, za, torch.quint8)

    def with_quant():
        return layer(torch.quantize_per_tensor(x, sa, za, torch.quint8)).dequantize()

    figures = {}
    ops = 2.0 * m * n * k
    for threads in THREADS:
        torch.set_num_threads(threads)
        fns = [lambda: layer(xq), with_quant]
        calls = []
        for fn in fns:
            fn()  # warm-up: thread pool start, first touch, any lazy packing
            calls.append(max(1, int(burst_gops(fn, ops, 3) * 1e9 * BURST_S / ops)))
        samples = [[], []]
        for _ in range(rounds):
            for i, fn in enumerate(fns):
                samples[i].append(burst_gops(fn, ops, calls[i]))
        figures[threads] = tuple(statistics.median(s) for s in samples)
    return figures


def exactness(k=784, n=256, m=64, za=3):
    """bench_int8's probe: activations 255, weights -128, so each pair of products sums to -65280,
    where AVX2's vpmaddubsw saturates int16. Exact accumulator: (255 - za) * -128 * K."""
    sa, sw = 0.01, 0.001
    exact = (255 - za) * -128 * k * sa * sw
    # Output scale chosen so that the exact value and a ~halved (saturated) one both fit in quint8.
    qw = torch.quantize_per_channel(torch.full((n, k), -128 * sw), torch.full((n,), sw).double(),
                                    torch.zeros(n, dtype=torch.long), 0, torch.qint8)
    layer = make_qlinear(qw, torch.zeros(n), -exact / 200, 250)
    xq = torch.quantize_per_tensor(torch.full((m, k), (255 - za) * sa), sa, za, torch.quint8)
    got = layer(xq).dequantize()[0, 0].item()
    ok = abs(got - exact) <= -exact / 200
    return "yes" if ok else f"NO: got {got:.1f}, exact {exact:.1f}"


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    print(f"torch {torch.__version__}, default quantized engine "
          f"{torch.backends.quantized.engine}, supported {torch.backends.quantized.supported_engines}")
    for engine in ("onednn", "qnnpack"):
        if engine not in torch.backends.quantized.supported_engines:
            print(f"torch_qlinear engine={engine} skipped: not in supported_engines")
            continue
        torch.backends.quantized.engine = engine
        try:
            exact = exactness()
        except RuntimeError as e:  # the engine cannot build or run this layer at all
            print(f"torch_qlinear engine={engine} skipped: {str(e).splitlines()[0]}")
            continue
        print(f"torch_qlinear_exact engine={engine} exact_on_255x-128={exact}", flush=True)
        for m, n, k in SHAPES:
            for threads, (g, gq) in time_shape(m, n, k, rounds).items():
                print(f"torch_qlinear engine={engine} M={m} N={n} K={k} threads={threads} "
                      f"gops={g:.1f} gops_with_quant={gq:.1f}", flush=True)


if __name__ == "__main__":
    main()
