// What the processor we run on can do, detected once at start-up.
// Kernels (fp32 GEMM, int8 GEMM) use this to pick their fastest correct path at run time,
// so one binary runs on any x86-64 or aarch64 machine.
#pragma once

#include <string>

namespace nibble {

struct CpuFeatures {
  // x86-64
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;     // 512-bit vectors
  bool avx512bw = false;    // 512-bit byte/word ops
  bool avx512vnni = false;  // vpdpbusd on zmm
  bool avxvnni = false;     // vpdpbusd with a VEX encoding (ymm), e.g. Alder Lake
  // aarch64
  bool neon = false;
  bool neon_dot = false;  // sdot/udot (ARMv8.2 dot-product extension)

  std::string summary() const;  // e.g. "avx2 fma" — for benchmark headers and logs
};

const CpuFeatures& cpu_features();

}  // namespace nibble
