#include "optim/sgd.h"

#include <utility>

#include "core/error.h"

namespace nibble::optim {

SGD::SGD(std::vector<Tensor> params, SgdOptions options)
    : Optimizer("SGD", std::move(params), options.lr), options_(options) {
  const SgdOptions& o = options_;
  NIBBLE_CHECK(o.momentum >= 0.0f && o.momentum < 1.0f, "SGD",
        "momentum must be in [0, 1), got " + format_value(o.momentum));
  NIBBLE_CHECK(o.dampening >= 0.0f && o.dampening <= 1.0f, "SGD",
        "dampening must be in [0, 1], got " + format_value(o.dampening));
  NIBBLE_CHECK(o.weight_decay >= 0.0f, "SGD",
        "weight_decay must be >= 0, got " + format_value(o.weight_decay));
  if (o.nesterov) {
    NIBBLE_CHECK(o.momentum > 0.0f, "SGD", "nesterov requires momentum > 0, got momentum " +
                                        format_value(o.momentum));
    NIBBLE_CHECK(o.dampening == 0.0f, "SGD", "nesterov requires dampening == 0, got dampening " +
                                          format_value(o.dampening));
  }
}

void SGD::update(float* p, const float* g, int64_t n, ParamState& state) {
  const float lr = this->lr();
  const float mu = options_.momentum;
  const float wd = options_.weight_decay;
  if (mu == 0.0f) {  // plain SGD keeps no state at all, like PyTorch
    for (int64_t j = 0; j < n; ++j) p[j] -= lr * (g[j] + wd * p[j]);
    return;
  }
  const bool first = state.buffers.empty();
  if (first) state.buffers.push_back(Tensor::zeros({n}));
  float* buf = state.buffers[0].data();
  const float keep = 1.0f - options_.dampening;
  for (int64_t j = 0; j < n; ++j) {
    const float d = g[j] + wd * p[j];                       // g + weight_decay * p
    buf[j] = first ? d : mu * buf[j] + keep * d;             // buf = g on the first step
    const float direction = options_.nesterov ? d + mu * buf[j] : buf[j];
    p[j] -= lr * direction;
  }
}

}  // namespace nibble::optim
