#include "nn/network.h"

#include "common/error.h"

namespace nasc {

namespace {
void check_range(const Space& s, int begin, int end) {
  if (begin < 0 || end > s.num_blocks() || begin > end)
    fail("block range [", begin, ", ", end, ") out of range for ", s.num_blocks(), " blocks");
}
}  // namespace

SupernetImpl::SupernetImpl(const Space& space) : space_(space) {
  stem_ = register_module("stem", make_block(space_, 0, 0));
  layers_.resize(space_.num_layers());
  for (int l = 0; l < space_.num_layers(); ++l) {
    const std::string prefix = "layer" + std::to_string(l) + "_";
    for (int o = 0; o < space_.num_ops(); ++o)
      layers_[l].push_back(register_module(prefix + space_.op(o).name, make_block(space_, l + 1, o)));
  }
  head_ = register_module("head", make_block(space_, space_.num_blocks() - 1, 0));
}

torch::Tensor SupernetImpl::forward(torch::Tensor x, const Arch& arch) {
  return forward_range(x, arch, 0, space_.num_blocks());
}

torch::Tensor SupernetImpl::forward_range(torch::Tensor x, const Arch& arch, int begin, int end) {
  check_range(space_, begin, end);
  space_.check_arch(arch);
  for (int b = begin; b < end; ++b) {
    if (b == 0)
      x = stem_->forward(x);
    else if (b == space_.num_blocks() - 1)
      x = head_->forward(x);
    else
      x = layers_[b - 1][arch[b - 1]]->forward(x);
  }
  return x;
}

NetworkImpl::NetworkImpl(const Space& space, Arch arch) : space_(space), arch_(std::move(arch)) {
  space_.check_arch(arch_);
  for (int b = 0; b < space_.num_blocks(); ++b) {
    int op = (b == 0 || b == space_.num_blocks() - 1) ? 0 : arch_[b - 1];
    blocks_.push_back(register_module(space_.block_name(b), make_block(space_, b, op)));
  }
}

torch::Tensor NetworkImpl::forward_range(torch::Tensor x, int begin, int end) {
  check_range(space_, begin, end);
  for (int b = begin; b < end; ++b) x = blocks_[b]->forward(x);
  return x;
}

void NetworkImpl::copy_from(const SupernetImpl& supernet) {
  if (supernet.space().config().to_json() != space_.config().to_json())
    fail("copy_from: supernet space ", supernet.space().name(), " differs from network space ", space_.name());
  copy_module_state(*supernet.stem(), *blocks_.front());
  for (int l = 0; l < space_.num_layers(); ++l) {
    copy_module_state(*supernet.candidate(l, arch_[l]), *blocks_[l + 1]);
  }
  copy_module_state(*supernet.head(), *blocks_.back());
}

}  // namespace nasc
