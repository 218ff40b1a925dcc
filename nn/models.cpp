#include "nn/models.h"

#include "core/ops.h"

namespace nibble::nn {

Tensor FashionMlp::standardize(const Tensor& images) const {
  return div(sub(images, input_mean), input_std);
}

Tensor FashionCnn::standardize(const Tensor& images) const {
  return div(sub(images, input_mean), input_std);
}

FashionMlp::FashionMlp() {
  fc1 = register_module("fc1", std::make_shared<Linear>(784, 256));
  fc2 = register_module("fc2", std::make_shared<Linear>(256, 128));
  fc3 = register_module("fc3", std::make_shared<Linear>(128, 10));
  input_mean = register_buffer("input_mean", Tensor::scalar(kFashionMnistMean));
  input_std = register_buffer("input_std", Tensor::scalar(kFashionMnistStd));
}

Tensor FashionMlp::forward(const Tensor& images) {
  Tensor x = standardize(images.reshape({-1, 784}));  // [B,784]
  x = relu(fc1->forward(x));             // [B,256]
  x = relu(fc2->forward(x));             // [B,128]
  return fc3->forward(x);                // [B,10]
}

FashionCnn::FashionCnn() {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(1, 8, 5, Conv2dOptions{1, 2}));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(8, 16, 5, Conv2dOptions{1, 2}));
  pool = register_module("pool", std::make_shared<MaxPool2d>(2));
  fc = register_module("fc", std::make_shared<Linear>(16 * 7 * 7, 10));
  input_mean = register_buffer("input_mean", Tensor::scalar(kFashionMnistMean));
  input_std = register_buffer("input_std", Tensor::scalar(kFashionMnistStd));
}

Tensor FashionCnn::forward(const Tensor& images) {
  NIBBLE_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == 28 && images.size(3) == 28,
        "FashionCnn::forward", "expects images [B, 1, 28, 28], got " + images.shape_str());
  Tensor x = standardize(images);                           // [B,1,28,28]
  x = pool->forward(relu(conv1->forward(x)));               // [B,8,14,14]
  x = pool->forward(relu(conv2->forward(x)));              // [B,16,7,7]
  return fc->forward(x.flatten(1));                         // [B,784] -> [B,10]
}

}  // namespace nibble::nn
