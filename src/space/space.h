// The search space (ARCHITECTURE.md §1): a JSON-described FBNet-style network of stem, L searchable layers and head,
// with shape inference, HW-NAS-Bench block keys, architectures (one op per layer) and split payloads (§2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/json_io.h"

namespace nasc {

// One candidate op: `kK_eE[_gG]` (inverted residual) or `skip`.
struct OpSpec {
  std::string name;
  int kernel = 0;
  int expansion = 0;
  int groups = 1;
  bool skip = false;
  static OpSpec parse(const std::string& name);  // throws Error on a malformed name
};

struct StageSpec {
  int layers = 1;
  int channels = 16;
  int stride = 1;
};

// Everything that defines a space; presets below, or any JSON file of the same shape.
struct SpaceConfig {
  std::string name;
  int in_channels = 3, in_height = 32, in_width = 32;
  int num_classes = 10;
  int stem_channels = 16, stem_stride = 1;
  std::vector<StageSpec> stages;
  int head_channels = 1504;
  std::vector<std::string> ops;
  std::string default_arch;  // text form; empty means every layer takes ops[0]

  json to_json() const;
  static SpaceConfig from_json(const json& j, const std::string& context);
  static SpaceConfig preset(const std::string& name);  // hwnas-cifar(10), hwnas-imagenet, nbmacro, fmnist, tiny
  static std::vector<std::string> preset_names();
  // A preset name or a path to a JSON file.
  static SpaceConfig load(const std::string& name_or_path);
};

struct Shape {
  int c = 0, h = 0, w = 0;
  int64_t numel() const { return int64_t(c) * h * w; }
  bool operator==(const Shape& o) const { return c == o.c && h == o.h && w == o.w; }
};

enum class BlockKind { Stem, Layer, Head };

// Geometry of one block, fixed by the space (the op choice changes compute, never shapes).
struct BlockGeom {
  BlockKind kind;
  int layer = -1;  // index among searchable layers, -1 for stem/head
  int stage = -1;
  Shape in, out;
  int stride = 1;
};

// Payload encodings of the tensor at a split (ARCHITECTURE.md §2). Raw is the stored uint8 input (p = 0 only).
enum class Encoding { Raw, Fp32, Fp16, Int8 };
Encoding parse_encoding(const std::string& s);  // fp32|fp16|int8
std::string encoding_name(Encoding e);
int encoding_bytes(Encoding e);  // bytes per element

using Arch = std::vector<int>;  // op index per searchable layer

class Space {
 public:
  explicit Space(SpaceConfig cfg);

  const SpaceConfig& config() const { return cfg_; }
  const std::string& name() const { return cfg_.name; }
  int num_layers() const { return int(blocks_.size()) - 2; }
  int num_blocks() const { return num_layers() + 2; }  // B: stem + L layers + head
  int num_ops() const { return int(ops_.size()); }
  const OpSpec& op(int i) const { return ops_.at(i); }
  int op_index(const std::string& name) const;  // -1 if not a candidate
  int num_classes() const { return cfg_.num_classes; }
  Shape input_shape() const { return {cfg_.in_channels, cfg_.in_height, cfg_.in_width}; }

  const BlockGeom& block(int b) const { return blocks_.at(b); }
  const BlockGeom& layer(int l) const { return blocks_.at(l + 1); }
  // Tensor at split boundary p in [0, B]: input for p = 0, output of block p-1 otherwise.
  Shape boundary_shape(int p) const;
  std::string block_name(int b) const;  // "stem", "layer3", "head"
  // Where split p cuts, in words: "server only (raw input)", "after layer3", "device only".
  std::string describe_split(int p) const;

  // HW-NAS-Bench-style keys whose latencies sum to block b's latency (op ignored for stem/head).
  std::vector<std::string> block_keys(int b, int op) const;
  std::string layer_key(int l, int op) const;
  // Whether `skip` at layer l is the identity (shapes match), which costs nothing; else it is a 1x1 convolution.
  bool skip_is_identity(int l) const;

  // Multiply-accumulates of block b with op `op` at batch size 1 (convolutions and the classifier; batch norm,
  // activations and pooling are not counted), and of a whole architecture.
  int64_t block_macs(int b, int op) const;
  int64_t macs(const Arch& a) const;

  // Bytes sent up at split p: raw input at 0, activation in `enc` for 0<p<B, nothing at B.
  int64_t payload_bytes(int p, Encoding enc) const;

  // Op names separated by commas ("k3_e6,skip,...") or, in spaces of at most 10 ops, one digit per layer giving
  // the op's index ("20110001"); throws Error naming the position and name.
  Arch parse_arch(const std::string& text) const;
  std::string format_arch(const Arch& a) const;
  std::string arch_digits(const Arch& a) const;  // the digit form (at most 10 ops)
  void check_arch(const Arch& a) const;
  Arch default_arch() const;

  json describe() const;  // blocks, shapes, keys, payloads per split

 private:
  SpaceConfig cfg_;
  std::vector<OpSpec> ops_;
  std::vector<BlockGeom> blocks_;
};

}  // namespace nasc
