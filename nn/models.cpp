#include "nn/models.h"

#include "core/ops.h"

namespace nibble::nn {

Tensor FashionMlp::standardize(const Tensor& images) const {
  return div(sub(images, input_mean), input_std);
}

Tensor FashionCnn::standardize(const Tensor& images) const {
  return div(sub(images, input_mean), input_std);
}

Tensor LeNet300::standardize(const Tensor& images) const {
  return div(sub(images, input_mean), input_std);
}

LeNet300::LeNet300() {
  register_module("fc1", std::make_shared<Linear>(784, 300));
  register_module("fc2", std::make_shared<Linear>(300, 100));
  register_module("fc3", std::make_shared<Linear>(100, 10));
  input_mean = register_buffer("input_mean", Tensor::scalar(kFashionMnistMean));
  input_std = register_buffer("input_std", Tensor::scalar(kFashionMnistStd));
}

Tensor LeNet300::forward(const Tensor& images) {
  Tensor x = standardize(images.reshape({-1, 784}));  // [B,784]
  x = relu(child("fc1")(x));             // [B,300]
  x = relu(child("fc2")(x));             // [B,100]
  return child("fc3")(x);                // [B,10]
}

FashionMlp::FashionMlp() {
  register_module("fc1", std::make_shared<Linear>(784, 256));
  register_module("fc2", std::make_shared<Linear>(256, 128));
  register_module("fc3", std::make_shared<Linear>(128, 10));
  input_mean = register_buffer("input_mean", Tensor::scalar(kFashionMnistMean));
  input_std = register_buffer("input_std", Tensor::scalar(kFashionMnistStd));
}

Tensor FashionMlp::forward(const Tensor& images) {
  Tensor x = standardize(images.reshape({-1, 784}));  // [B,784]
  x = relu(child("fc1")(x));             // [B,256]
  x = relu(child("fc2")(x));             // [B,128]
  return child("fc3")(x);                // [B,10]
}

FashionCnn::FashionCnn() {
  register_module("conv1", std::make_shared<Conv2d>(1, 8, 5, Conv2dOptions{1, 2}));
  register_module("conv2", std::make_shared<Conv2d>(8, 16, 5, Conv2dOptions{1, 2}));
  register_module("pool", std::make_shared<MaxPool2d>(2));
  register_module("fc", std::make_shared<Linear>(16 * 7 * 7, 10));
  input_mean = register_buffer("input_mean", Tensor::scalar(kFashionMnistMean));
  input_std = register_buffer("input_std", Tensor::scalar(kFashionMnistStd));
}

Tensor FashionCnn::forward(const Tensor& images) {
  NIBBLE_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == 28 && images.size(3) == 28,
        "FashionCnn::forward", "expects images [B, 1, 28, 28], got " + images.shape_str());
  Tensor x = standardize(images);                           // [B,1,28,28]
  Module& pool = child("pool");
  x = pool(relu(child("conv1")(x)));                        // [B,8,14,14]
  x = pool(relu(child("conv2")(x)));                        // [B,16,7,7]
  return child("fc")(x.flatten(1));                         // [B,784] -> [B,10]
}

}  // namespace nibble::nn
