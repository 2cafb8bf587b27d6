#include "deploy/fold.h"

#include <variant>

#include "common/error.h"

namespace nasc {

namespace {

const char* kind_name(FoldedStep::Kind k) {
  switch (k) {
    case FoldedStep::Kind::Conv:
      return "conv";
    case FoldedStep::Kind::Shuffle:
      return "shuffle";
    case FoldedStep::Kind::GlobalPool:
      return "global_avg_pool";
    case FoldedStep::Kind::Linear:
      return "linear";
  }
  return "?";
}

FoldedStep plain_step(FoldedStep::Kind kind, int groups = 1) {
  FoldedStep s;
  s.kind = kind;
  s.groups = groups;
  return s;
}

std::string key(const FoldedBlock& b, size_t step, const char* what) {
  return cat("b", b.index, ".s", step, ".", what);
}

bool has_tensors(const FoldedStep& s) { return s.kind == FoldedStep::Kind::Conv || s.kind == FoldedStep::Kind::Linear; }

}  // namespace

torch::Tensor FoldedStep::forward(const torch::Tensor& x) const {
  switch (kind) {
    case Kind::Conv: {
      auto y = torch::conv2d(x, weight, bias, stride, padding, /*dilation=*/1, groups);
      return relu ? torch::relu_(y) : y;
    }
    case Kind::Shuffle: {
      auto n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
      return x.view({n, groups, c / groups, h, w}).transpose(1, 2).reshape({n, c, h, w});
    }
    case Kind::GlobalPool:
      return x.mean({2, 3});
    case Kind::Linear:
      return torch::linear(x, weight, bias);
  }
  fail("folded step of unknown kind");
}

json FoldedStep::to_json() const {
  json j = {{"type", kind_name(kind)}};
  if (kind == Kind::Conv) {
    j["kernel"] = weight.size(2);
    j["in_channels"] = weight.size(1) * groups;
    j["out_channels"] = weight.size(0);
    j["stride"] = stride;
    j["padding"] = padding;
    j["groups"] = groups;
    j["relu"] = relu;
  } else if (kind == Kind::Shuffle) {
    j["groups"] = groups;
  } else if (kind == Kind::Linear) {
    j["in_features"] = weight.size(1);
    j["out_features"] = weight.size(0);
  }
  return j;
}

FoldedStep FoldedStep::from_json(const json& j, const std::string& context) {
  auto type = json_get<std::string>(j, "type", context);
  FoldedStep s;
  if (type == "conv") {
    s.kind = Kind::Conv;
    s.stride = json_get<int>(j, "stride", context);
    s.padding = json_get<int>(j, "padding", context);
    s.groups = json_get<int>(j, "groups", context);
    s.relu = json_get<bool>(j, "relu", context);
    if (s.stride < 1 || s.padding < 0 || s.groups < 1)
      fail(context, ": conv needs stride >= 1, padding >= 0 and groups >= 1");
  } else if (type == "shuffle") {
    s.kind = Kind::Shuffle;
    s.groups = json_get<int>(j, "groups", context);
    if (s.groups < 2) fail(context, ": shuffle needs groups >= 2");
  } else if (type == "global_avg_pool") {
    s.kind = Kind::GlobalPool;
  } else if (type == "linear") {
    s.kind = Kind::Linear;
  } else {
    fail(context, ": unknown step type '", type, "': expected conv, shuffle, global_avg_pool or linear");
  }
  return s;
}

torch::Tensor FoldedBlock::forward(torch::Tensor x) const {
  auto in = x;
  for (const auto& s : steps) x = s.forward(x);
  return residual ? x + in : x;
}

json FoldedBlock::to_json() const {
  json steps_j = json::array();
  for (const auto& s : steps) steps_j.push_back(s.to_json());
  return {{"index", index}, {"name", name}, {"residual", residual}, {"steps", steps_j}};
}

FoldedBlock FoldedBlock::from_json(const json& j, const std::string& context) {
  FoldedBlock b;
  b.index = json_get<int>(j, "index", context);
  b.name = json_get<std::string>(j, "name", context);
  b.residual = json_get<bool>(j, "residual", context);
  const std::string ctx = cat(context, " block ", b.index);
  if (!j.contains("steps") || !j["steps"].is_array()) fail(ctx, ": expected an array 'steps'");
  const json& steps = j["steps"];
  for (size_t i = 0; i < steps.size(); ++i) b.steps.push_back(FoldedStep::from_json(steps[i], cat(ctx, " step ", i)));
  return b;
}

FoldedStep fold_conv_bn(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn, bool relu) {
  torch::NoGradGuard no_grad;
  const auto& o = conv.options;
  // The padding is a variant: c10's own in LibTorch 1.x, std::variant from 2.0 on.
#if TORCH_VERSION_MAJOR >= 2
  const auto* pad = std::get_if<torch::ExpandingArray<2>>(&o.padding());
#else
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
#endif
  if (!pad || (*pad)->at(0) != (*pad)->at(1) || o.stride()->at(0) != o.stride()->at(1))
    fail("fold_conv_bn: only square strides and explicit symmetric padding are supported");
  auto g = bn.weight.to(torch::kDouble) / torch::sqrt(bn.running_var.to(torch::kDouble) + bn.options.eps());
  auto w = conv.weight.to(torch::kDouble) * g.view({-1, 1, 1, 1});
  auto b = bn.bias.to(torch::kDouble) - bn.running_mean.to(torch::kDouble) * g;
  if (conv.bias.defined()) b = b + conv.bias.to(torch::kDouble) * g;
  FoldedStep s;
  s.kind = FoldedStep::Kind::Conv;
  s.weight = w.to(conv.weight.dtype()).contiguous();
  s.bias = b.to(conv.weight.dtype()).contiguous();
  s.stride = int(o.stride()->at(0));
  s.padding = int((*pad)->at(0));
  s.groups = int(o.groups());
  s.relu = relu;
  return s;
}

FoldedBlock fold_block(const BlockModule& block, int index, const std::string& name) {
  FoldedBlock f;
  f.index = index;
  f.name = name;
  if (auto* c = dynamic_cast<const ConvBNImpl*>(&block)) {
    f.steps.push_back(fold_conv_bn(*c->conv, *c->bn, c->relu));
  } else if (auto* m = dynamic_cast<const MBConvImpl*>(&block)) {
    f.steps.push_back(fold_conv_bn(*m->expand, *m->bn1, true));
    if (m->groups > 1) f.steps.push_back(plain_step(FoldedStep::Kind::Shuffle, m->groups));
    f.steps.push_back(fold_conv_bn(*m->depthwise, *m->bn2, true));
    f.steps.push_back(fold_conv_bn(*m->project, *m->bn3, false));
    f.residual = m->residual;
  } else if (auto* s = dynamic_cast<const SkipImpl*>(&block)) {
    if (s->proj) f.steps.push_back(fold_conv_bn(*s->proj->conv, *s->proj->bn, s->proj->relu));
  } else if (auto* h = dynamic_cast<const HeadImpl*>(&block)) {
    f.steps.push_back(fold_conv_bn(*h->conv->conv, *h->conv->bn, h->conv->relu));
    f.steps.push_back(plain_step(FoldedStep::Kind::GlobalPool));
    FoldedStep lin = plain_step(FoldedStep::Kind::Linear);
    lin.weight = h->fc->weight.detach().clone();
    lin.bias = h->fc->bias.detach().clone();
    f.steps.push_back(lin);
  } else {
    fail("fold_block: block ", index, " (", name, ") is not a ConvBN, MBConv, Skip or Head");
  }
  return f;
}

std::vector<FoldedBlock> fold_network(const NetworkImpl& net, int begin, int end) {
  const Space& s = net.space();
  if (begin < 0 || end > s.num_blocks() || begin > end)
    fail("block range [", begin, ", ", end, ") out of range for ", s.num_blocks(), " blocks");
  std::vector<FoldedBlock> out;
  for (int b = begin; b < end; ++b) out.push_back(fold_block(*net.block(b), b, s.block_name(b)));
  return out;
}

torch::Tensor run_folded(const std::vector<FoldedBlock>& blocks, torch::Tensor x) {
  for (const auto& b : blocks) x = b.forward(x);
  return x;
}

void save_folded_weights(const std::vector<FoldedBlock>& blocks, const std::string& path) {
  torch::serialize::OutputArchive archive;
  for (const auto& b : blocks)
    for (size_t i = 0; i < b.steps.size(); ++i)
      if (has_tensors(b.steps[i])) {
        archive.write(key(b, i, "weight"), b.steps[i].weight.detach().cpu());
        archive.write(key(b, i, "bias"), b.steps[i].bias.detach().cpu());
      }
  archive.save_to(path);
}

void load_folded_weights(std::vector<FoldedBlock>& blocks, const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, torch::kCPU);
  } catch (const c10::Error&) {
    fail("cannot read weights ", path, ": expected a torch archive written by nasc export");
  }
  for (auto& b : blocks)
    for (size_t i = 0; i < b.steps.size(); ++i) {
      FoldedStep& s = b.steps[i];
      if (!has_tensors(s)) continue;
      using Slot = std::pair<const char*, torch::Tensor*>;
      for (auto [what, t] : {Slot{"weight", &s.weight}, Slot{"bias", &s.bias}}) {
        torch::Tensor read;
        if (!archive.try_read(key(b, i, what), read)) fail(path, ": missing tensor ", key(b, i, what));
        *t = read.detach();
      }
      const int64_t wdim = s.kind == FoldedStep::Kind::Conv ? 4 : 2;
      if (s.weight.dim() != wdim || s.bias.dim() != 1 || s.bias.size(0) != s.weight.size(0) ||
          (s.kind == FoldedStep::Kind::Conv && s.weight.size(0) % s.groups != 0))
        fail(path, ": tensors of ", key(b, i, "*"), " have shapes ", s.weight.sizes(), " and ", s.bias.sizes(),
             ", expected a ", wdim, "-d weight and a bias of its first dimension");
    }
}

}  // namespace nasc
