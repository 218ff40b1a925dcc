#include "nn/linear.h"

#include "core/ops.h"
#include "nn/init.h"

namespace nibble::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  NIBBLE_CHECK(in > 0 && out > 0, "Linear", "features must be positive, got in=" + std::to_string(in) +
                                         " out=" + std::to_string(out));
  Tensor w = Tensor::empty({out, in});
  Tensor b = with_bias ? Tensor::empty({out}) : Tensor();
  init::pytorch_default_(w, b);
  weight = register_parameter("weight", w);
  if (with_bias) bias = register_parameter("bias", b);
}

Tensor Linear::forward(const Tensor& x) {
  NIBBLE_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_features, "Linear::forward",
        "input " + (x.defined() ? x.shape_str() : std::string("(undefined)")) +
            " does not end in in_features = " + std::to_string(in_features),
        "weight is " + weight.shape_str() + "; flatten images first, e.g. x.flatten(1)");
  // x [..., in] @ W^T [in, out] -> [..., out]; W^T is a view, which sgemm reads transposed.
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? add(y, bias) : y;
}

}  // namespace nibble::nn
