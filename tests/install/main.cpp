// Uses the installed headers (through the umbrella header) and libnibble.so: d(sum w*w)/dw = 2w.
#include <nibble.h>

int main() {
  nibble::Tensor w = nibble::Tensor::from_vector({1.0f, -2.0f, 3.0f}).requires_grad_();
  nibble::mul(w, w).sum().backward();
  const std::vector<float> g = w.grad().to_vector();
  const bool ok = g == std::vector<float>{2.0f, -4.0f, 6.0f};
  fmt::print("installed nibble: grad {} -> {}\n", w.grad(), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
