#include "nn/quantized_models.h"

#include "core/autograd.h"

namespace nibble::nn {

namespace {
// {t} when t is defined, else {} (= dynamic quantization).
std::vector<Tensor> calib(const Tensor& t) { return t.defined() ? std::vector<Tensor>{t} : std::vector<Tensor>{}; }
}  // namespace

QuantizedFashionMlp QuantizedFashionMlp::from_float(const FashionMlp& model,
                                                    const Tensor& calibration_images,
                                                    Int8Kernel kernel, bool reduce_range) {
  NoGradGuard no_grad;
  QuantizedFashionMlp q;
  // Run the float model once, keeping each layer's input: that is what its activations will see.
  Tensor x, h1, h2;
  if (calibration_images.defined()) {
    x = model.standardize(calibration_images.reshape({-1, 784}));  // [B,784]
    h1 = relu(model.fc1().forward(x));           // [B,256]
    h2 = relu(model.fc2().forward(h1));          // [B,128]
  }
  q.input_mean = model.input_mean.item();
  q.input_std = model.input_std.item();
  q.fc1 = QuantizedLinear::from_float(model.fc1(), calib(x), {true, kernel, reduce_range});
  q.fc2 = QuantizedLinear::from_float(model.fc2(), calib(h1), {true, kernel, reduce_range});
  q.fc3 = QuantizedLinear::from_float(model.fc3(), calib(h2), {false, kernel, reduce_range});
  return q;
}

Tensor QuantizedFashionMlp::forward(const Tensor& images) const {
  NIBBLE_CHECK(images.defined() && images.numel() % 784 == 0, "QuantizedFashionMlp::forward",
        "expects images [B, 1, 28, 28] or [B, 784], got " +
            (images.defined() ? images.shape_str() : std::string("(undefined)")));
  NoGradGuard no_grad;
  Tensor x = mul(add(images.reshape({-1, 784}), -input_mean), 1.0f / input_std);  // [B,784]
  return fc3(fc2(fc1(x)));               // [B,256] -> [B,128] -> [B,10]
}

Tensor QuantizedFashionMlp::forward_u8(const Tensor& images) const {
  NIBBLE_CHECK(images.defined() && images.numel() % 784 == 0, "QuantizedFashionMlp::forward_u8",
        "expects images [B, 1, 28, 28] or [B, 784], got " +
            (images.defined() ? images.shape_str() : std::string("(undefined)")));
  NoGradGuard no_grad;
  const Tensor x = mul(add(images.reshape({-1, 784}), -input_mean), 1.0f / input_std);  // [B,784]
  const QuantizedTensor q = quantize(x, fc1.input_params());  // the only float -> uint8 pass
  return fc3(fc2.forward_u8(fc1.forward_u8(q)));              // uint8 [B,h1] -> [B,h2] -> float [B,10]
}

QuantizedFashionCnn QuantizedFashionCnn::from_float(const FashionCnn& model,
                                                    const Tensor& calibration_images,
                                                    Int8Kernel kernel, bool reduce_range) {
  NoGradGuard no_grad;
  QuantizedFashionCnn q;
  Tensor x, h1, h2;
  if (calibration_images.defined()) {
    x = model.standardize(calibration_images);                    // [B,1,28,28]
    h1 = model.pool().forward(relu(model.conv1().forward(x)));      // [B,8,14,14]
    h2 = model.pool().forward(relu(model.conv2().forward(h1)));     // [B,16,7,7]
    h2 = h2.flatten(1);                                           // [B,784]
  }
  q.input_mean = model.input_mean.item();
  q.input_std = model.input_std.item();
  q.conv1 = QuantizedConv2d::from_float(model.conv1(), calib(x), {true, kernel, reduce_range});
  q.conv2 = QuantizedConv2d::from_float(model.conv2(), calib(h1), {true, kernel, reduce_range});
  q.fc = QuantizedLinear::from_float(model.fc(), calib(h2), {false, kernel, reduce_range});
  return q;
}

Tensor QuantizedFashionCnn::forward(const Tensor& images) const {
  NIBBLE_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 1 && images.size(2) == 28 &&
            images.size(3) == 28,
        "QuantizedFashionCnn::forward",
        "expects images [B, 1, 28, 28], got " +
            (images.defined() ? images.shape_str() : std::string("(undefined)")));
  NoGradGuard no_grad;
  // Standardised, as in the float model.
  const Tensor x = mul(add(images, -input_mean), 1.0f / input_std);  // [B,1,28,28]
  if (conv1.is_dynamic()) {  // no output ranges: the float path, each layer quantizing its input
    const Tensor h1 = max_pool2d(conv1(x), 2);   // [B,8,14,14]  (ReLU fused into conv1)
    const Tensor h2 = max_pool2d(conv2(h1), 2);  // [B,16,7,7]
    return fc(h2.flatten(1));                    // [B,784] -> [B,10]
  }
  // uint8 from the first conv to the last Linear; each layer reads its input's params.
  QuantizedTensor q = quantize(x, conv1.input_params());         // [B,1,28,28]
  q = conv1.forward_pooled(q, 2);  // [B,8,28,28] -> max pool [B,8,14,14] (fused when conv1 is sparse)
  q = conv2.forward_pooled(q, 2);  // [B,16,14,14] -> [B,16,7,7]
  q.shape = {q.shape[0], q.shape[1] * q.shape[2] * q.shape[3]};  // flatten: a shape change only
  return fc(q);                                                  // [B,784] -> float logits [B,10]
}

}  // namespace nibble::nn
