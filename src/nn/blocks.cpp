#include "nn/blocks.h"

#include "common/error.h"

namespace nasc {

namespace {
torch::nn::Conv2d conv(int cin, int cout, int kernel, int stride, int groups) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .groups(groups)
                               .bias(false));
}

// ShuffleNet's channel shuffle: lets grouped 1x1 convs exchange information between groups. Keeps the input's
// memory layout, so a channels-last network does not switch to NCHW halfway (that costs a reorder per conv).
torch::Tensor channel_shuffle(const torch::Tensor& x, int groups) {
  auto n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto layout = x.suggest_memory_format();
  return x.view({n, groups, c / groups, h, w}).transpose(1, 2).reshape({n, c, h, w}).contiguous(layout);
}
}  // namespace

ConvBNImpl::ConvBNImpl(int cin, int cout, int kernel, int stride, int groups, bool relu)
    : conv(nasc::conv(cin, cout, kernel, stride, groups)), bn(torch::nn::BatchNorm2d(cout)), relu(relu) {
  register_module("conv", conv);
  register_module("bn", bn);
}

torch::Tensor ConvBNImpl::forward(torch::Tensor x) {
  x = bn(conv(x));
  return relu ? torch::relu_(x) : x;
}

MBConvImpl::MBConvImpl(int cin, int cout, int kernel, int expansion, int stride, int groups)
    : expand(conv(cin, cin * expansion, 1, 1, groups)),
      depthwise(conv(cin * expansion, cin * expansion, kernel, stride, cin * expansion)),
      project(conv(cin * expansion, cout, 1, 1, groups)),
      bn1(cin * expansion),
      bn2(cin * expansion),
      bn3(cout),
      groups(groups),
      residual(cin == cout && stride == 1) {
  register_module("expand", expand);
  register_module("bn1", bn1);
  register_module("depthwise", depthwise);
  register_module("bn2", bn2);
  register_module("project", project);
  register_module("bn3", bn3);
}

torch::Tensor MBConvImpl::forward(torch::Tensor x) {
  // In-place ReLU: batch norm's backward needs its input, not its output, so the output may be overwritten.
  auto y = bn1(expand(x));
  y.relu_();
  if (groups > 1) y = channel_shuffle(y, groups);
  y = bn2(depthwise(y));
  y.relu_();
  y = bn3(project(y));
  return residual ? y + x : y;
}

SkipImpl::SkipImpl(int cin, int cout, int stride) {
  if (cin != cout || stride != 1) proj = register_module("proj", ConvBN(cin, cout, 1, stride, 1, true));
}

torch::Tensor SkipImpl::forward(torch::Tensor x) { return proj ? proj(x) : x; }

HeadImpl::HeadImpl(int cin, int head_channels, int classes)
    : conv(cin, head_channels, 1, 1, 1, true), fc(head_channels, classes) {
  register_module("conv", conv);
  register_module("fc", fc);
}

torch::Tensor HeadImpl::forward(torch::Tensor x) {
  x = conv(x);
  x = x.mean({2, 3});
  return fc(x);
}

std::shared_ptr<BlockModule> make_block(const Space& space, int b, int op_index) {
  const BlockGeom& g = space.block(b);
  switch (g.kind) {
    case BlockKind::Stem:
      return ConvBN(g.in.c, g.out.c, 3, g.stride, 1, true).ptr();
    case BlockKind::Head:
      return Head(g.in.c, space.config().head_channels, space.num_classes()).ptr();
    case BlockKind::Layer: {
      const OpSpec& op = space.op(op_index);
      if (op.skip) return Skip(g.in.c, g.out.c, g.stride).ptr();
      return MBConv(g.in.c, g.out.c, op.kernel, op.expansion, g.stride, op.groups).ptr();
    }
  }
  fail("block ", b, " has an unknown kind");
}

namespace {
struct AvgPoolImpl : torch::nn::Module {
  torch::Tensor forward(torch::Tensor x) { return x.mean({2, 3}); }
};
TORCH_MODULE(AvgPool);
}  // namespace

std::vector<std::shared_ptr<torch::nn::Module>> make_head_parts(const Space& space) {
  const BlockGeom& g = space.block(space.num_blocks() - 1);
  int hc = space.config().head_channels;
  return {ConvBN(g.in.c, hc, 1, 1, 1, true).ptr(), AvgPool().ptr(),
          torch::nn::Linear(hc, space.num_classes()).ptr()};
}

torch::Tensor run_head_part(const std::shared_ptr<torch::nn::Module>& part, torch::Tensor x) {
  if (auto c = std::dynamic_pointer_cast<ConvBNImpl>(part)) return c->forward(x);
  if (auto p = std::dynamic_pointer_cast<AvgPoolImpl>(part)) return p->forward(x);
  if (auto l = std::dynamic_pointer_cast<torch::nn::LinearImpl>(part)) return l->forward(x.flatten(1));
  fail("run_head_part: not a head part");
}

void copy_module_state(const torch::nn::Module& src, torch::nn::Module& dst) {
  torch::NoGradGuard no_grad;
  auto sp = src.named_parameters(), dp = dst.named_parameters();
  auto sb = src.named_buffers(), db = dst.named_buffers();
  if (sp.size() != dp.size() || sb.size() != db.size()) fail("copy_module_state: module structures differ");
  for (auto& item : dp) item.value().copy_(sp[item.key()]);
  for (auto& item : db) item.value().copy_(sb[item.key()]);
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace nasc
