#include "deploy/split_model.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include "common/error.h"
#include "space/space.h"

namespace nasc {

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "[N";
  for (auto d : s) t += cat(", ", d);
  return t + "]";
}

std::vector<int64_t> batched(int64_t n, const std::vector<int64_t>& s) {
  std::vector<int64_t> v{n};
  v.insert(v.end(), s.begin(), s.end());
  return v;
}
}  // namespace

SplitModel SplitModel::load(const std::string& dir, torch::Device device) {
  namespace fs = std::filesystem;
  const std::string path = (fs::path(dir) / "model.json").string();
  SplitModel m;
  m.desc_ = read_json_file(path);
  const json& d = m.desc_;
  if (json_get_or<std::string>(d, "format", "", path) != kHalfFormat)
    fail(path, ": not an exported half (expected \"format\": \"", kHalfFormat, "\")");
  m.role_ = json_get<std::string>(d, "role", path);
  if (m.role_ != "head" && m.role_ != "tail") fail(path, ": role '", m.role_, "', expected head or tail");
  Space space(SpaceConfig::from_json(json_member(d, "space", path), path));
  m.split_ = json_get<int>(d, "split", path);
  m.splits_ = json_get_or<std::vector<int>>(d, "splits", {m.split_}, path);
  auto range = json_get<std::vector<int>>(d, "block_range", path);
  const int B = space.num_blocks();
  if (m.split_ < 0 || m.split_ > B) fail(path, ": split ", m.split_, " out of range 0..", B);
  if (m.splits_.empty() || !std::is_sorted(m.splits_.begin(), m.splits_.end()) ||
      std::adjacent_find(m.splits_.begin(), m.splits_.end()) != m.splits_.end() || m.splits_.front() < 0 ||
      m.splits_.back() > B || !std::binary_search(m.splits_.begin(), m.splits_.end(), m.split_))
    fail(path, ": splits must be ascending, distinct, in 0..", B, " and hold the default split ", m.split_);
  const bool head = m.role_ == "head";
  const int cut = head ? m.splits_.back() : m.splits_.front();
  if (range.size() != 2 || range[0] != (head ? 0 : cut) || range[1] != (head ? cut : B))
    fail(path, ": block_range does not match the ", m.role_, " of splits ", m.splits_.front(), "..", m.splits_.back(),
         " in ", B, " blocks");
  m.begin_ = range[0];
  m.end_ = range[1];
  m.classes_ = json_get<int>(d, "classes", path);
  if (m.classes_ != space.num_classes())
    fail(path, ": classes ", m.classes_, ", expected the space's ", space.num_classes());
  // The shapes are the space's own at the half's boundaries ([C, H, W], or [classes] after the last block): this
  // bounds what the load-time dry run allocates and refuses a half whose declaration lies about its tensors.
  auto boundary = [&](int q) -> std::vector<int64_t> {
    if (q == B) return {space.num_classes()};
    Shape sh = space.boundary_shape(q);
    return {sh.c, sh.h, sh.w};
  };
  for (int q = m.begin_; q <= m.end_; ++q) m.boundaries_.push_back(boundary(q));
  using Slot = std::tuple<const char*, std::vector<int64_t>*, int>;
  for (auto [name, shape, q] : {Slot{"input_shape", &m.input_shape_, m.begin_}, Slot{"output_shape", &m.output_shape_, m.end_}}) {
    for (int v : json_get<std::vector<int>>(d, name, path)) shape->push_back(v);
    if (*shape != boundary(q))
      fail(path, ": ", name, " ", shape_text(*shape), ", expected ", shape_text(boundary(q)),
           " (the space's tensor at block ", q, ")");
  }

  const json& blocks = json_member(d, "blocks", path);
  if (!blocks.is_array() || int(blocks.size()) != m.end_ - m.begin_)
    fail(path, ": expected ", m.end_ - m.begin_, " blocks for block_range [", m.begin_, ", ", m.end_, ")");
  for (size_t i = 0; i < blocks.size(); ++i) {
    m.blocks_.push_back(FoldedBlock::from_json(blocks[i], path));
    if (m.blocks_.back().index != m.begin_ + int(i)) fail(path, ": block ", i, " has the wrong index");
  }
  if (d.contains("normalizer") && !d["normalizer"].is_null())
    m.normalizer_ = Normalizer::from_json(d["normalizer"], path);
  if (m.begin_ == 0 && !m.blocks_.empty() && !m.normalizer_)
    fail(path, ": a half starting at block 0 needs its normalizer");
  load_folded_weights(m.blocks_, file_in_dir(dir, json_get<std::string>(d, "weights", path), "weights", path));

  m.finish_load(path, device);
  return m;
}

void SplitModel::finish_load(const std::string& path, torch::Device device) {
  // One dry run proves that the weights chain from the declared input shape to the declared output shape.
  torch::NoGradGuard no_grad;
  std::vector<int64_t> out;
  try {
    out = run_folded(blocks_, torch::zeros(batched(1, input_shape_))).sizes().vec();
  } catch (const c10::Error&) {
    fail(path, ": the weights do not fit an input of shape ", shape_text(input_shape_));
  }
  if (out != batched(1, output_shape_))
    fail(path, ": the blocks produce ", c10::IntArrayRef(out), ", expected ", shape_text(output_shape_));
  device_ = device;
  for (auto& b : blocks_)
    for (auto& s : b.steps)
      if (s.weight.defined()) {
        s.weight = s.weight.to(device);
        s.bias = s.bias.to(device);
      }
}

torch::Tensor SplitModel::forward(const torch::Tensor& x) const { return forward_range(x, begin_, end_); }

torch::Tensor SplitModel::forward_range(const torch::Tensor& x, int from, int to) const {
  if (from < begin_ || to > end_ || from > to)
    fail(role_, ": blocks [", from, ", ", to, ") are not all in this half's [", begin_, ", ", end_, ")");
  const std::vector<int64_t>& in = boundaries_[size_t(from - begin_)];
  if (x.dim() != int64_t(in.size()) + 1 || x.sizes().slice(1).vec() != in)
    fail(role_, " from block ", from, ": input of shape ", x.sizes(), ", expected ", shape_text(in));
  torch::NoGradGuard no_grad;
  torch::Tensor y = x.to(device_);
  for (int b = from; b < to; ++b) y = blocks_[size_t(b - begin_)].forward(y);
  return y;
}

torch::Tensor SplitModel::normalize(const torch::Tensor& pixels) const {
  if (!normalizer_)
    fail(role_, " of split ", split_, " takes ", begin_ == 0 ? "raw pixels unnormalised" : "activations",
         ": it has no normaliser");
  if (pixels.scalar_type() != torch::kUInt8 || pixels.dim() != 4 || pixels.size(1) != normalizer_->channels())
    fail(role_, " of split ", split_, ": pixels of type ", pixels.scalar_type(), " and shape ", pixels.sizes(),
         ", expected uint8 [N, ", normalizer_->channels(), ", H, W]");
  auto opt = torch::TensorOptions().dtype(torch::kFloat);
  auto scale = torch::tensor(normalizer_->scale(), opt).view({1, -1, 1, 1});
  auto offset = torch::tensor(normalizer_->offset(), opt).view({1, -1, 1, 1});
  return (pixels.to(torch::kFloat) * scale + offset).to(device_);
}

}  // namespace nasc
