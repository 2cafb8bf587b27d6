#include "space/space.h"

#include <algorithm>
#include <regex>

#include "common/error.h"

namespace nasc {

OpSpec OpSpec::parse(const std::string& name) {
  OpSpec op;
  op.name = name;
  if (name == "skip") {
    op.skip = true;
    return op;
  }
  static const std::regex re("k([0-9]+)_e([0-9]+)(?:_g([0-9]+))?");
  std::smatch m;
  if (!std::regex_match(name, m, re))
    fail("unknown op name '", name, "': expected 'skip' or kK_eE[_gG] such as k3_e6 or k5_e1_g2");
  op.kernel = std::stoi(m[1]);
  op.expansion = std::stoi(m[2]);
  op.groups = m[3].matched ? std::stoi(m[3]) : 1;
  if (op.kernel < 1 || op.kernel % 2 == 0 || op.kernel > 11 || op.expansion < 1 || op.expansion > 16 ||
      op.groups < 1 || op.groups > 8)
    fail("op '", name, "' out of range: expected odd kernel 1..11, expansion 1..16, groups 1..8");
  return op;
}

static const std::vector<std::string> kFbnetOps = {"k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1",
                                                   "k5_e1_g2", "k5_e3",   "k5_e6", "skip"};

static SpaceConfig make_space(std::string name, Shape in, int classes, int stem_ch, int stem_stride,
                              const std::vector<int>& layers, const std::vector<int>& channels,
                              const std::vector<int>& strides, int head, const std::string& default_op,
                              const std::vector<std::string>& ops = kFbnetOps) {
  SpaceConfig c;
  c.name = std::move(name);
  c.in_channels = in.c;
  c.in_height = in.h;
  c.in_width = in.w;
  c.num_classes = classes;
  c.stem_channels = stem_ch;
  c.stem_stride = stem_stride;
  for (size_t i = 0; i < layers.size(); ++i) c.stages.push_back({layers[i], channels[i], strides[i]});
  c.head_channels = head;
  c.ops = ops;
  int total = 0;
  for (int n : layers) total += n;
  for (int i = 0; i < total; ++i) c.default_arch += (i ? "," : "") + default_op;
  return c;
}

std::vector<std::string> SpaceConfig::preset_names() {
  return {"hwnas-cifar", "hwnas-cifar10", "hwnas-imagenet", "nbmacro", "fmnist", "tiny"};
}

SpaceConfig SpaceConfig::preset(const std::string& name) {
  const std::vector<int> fbnet_layers = {1, 4, 4, 4, 4, 4, 1};
  const std::vector<int> fbnet_channels = {16, 24, 32, 64, 112, 184, 352};
  // hwnas-cifar10: the same geometry with a 10-class head (CIFAR-10, or Fashion-MNIST as --data fmnist32).
  if (name == "hwnas-cifar" || name == "hwnas-cifar10")
    return make_space(name, {3, 32, 32}, name == "hwnas-cifar" ? 100 : 10, 16, 1, fbnet_layers, fbnet_channels,
                      {1, 1, 2, 2, 1, 2, 1}, 1504, "k3_e6");
  if (name == "hwnas-imagenet")
    return make_space(name, {3, 224, 224}, 1000, 16, 2, fbnet_layers, fbnet_channels, {1, 2, 2, 2, 1, 2, 1}, 1984,
                      "k3_e6");
  // NAS-Bench-Macro (Su et al., CVPR 2021), block for block: 8 layers of {identity, MB3_K3, MB6_K5} in stages of
  // 2, 3, 3 layers, whose first layer halves the resolution and doubles the channels. Ops are in the table's digit
  // order (0 skip, 1 k3_e3, 2 k5_e6), so an architecture's digit string is its key in the published accuracies.
  if (name == "nbmacro")
    return make_space(name, {3, 32, 32}, 10, 32, 1, {2, 3, 3}, {64, 128, 256}, {2, 2, 2}, 1280, "k3_e3",
                      {"skip", "k3_e3", "k5_e6"});
  // Fashion-MNIST: the FBNet stage plan at half depth, half width and a stride-2 stem (28 -> 14), so that a
  // quick search fits a 2-core CPU in minutes; spatial sizes per stage 14,14,7,4,4,2,2.
  if (name == "fmnist")
    return make_space(name, {1, 28, 28}, 10, 8, 2, {1, 2, 2, 2, 2, 2, 1}, {8, 16, 24, 32, 48, 64, 96},
                      {1, 1, 2, 2, 1, 2, 1}, 256, "k3_e6");
  // One narrow layer per stage: for tests (9^7 architectures, brute-forceable).
  if (name == "tiny")
    return make_space(name, {1, 28, 28}, 10, 8, 1, {1, 1, 1, 1, 1, 1, 1}, {8, 12, 16, 24, 24, 32, 48},
                      {1, 1, 2, 2, 1, 2, 1}, 64, "k3_e3");
  std::string names;
  for (auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  fail("unknown space '", name, "': expected one of ", names, " or a path to a space JSON file");
}

SpaceConfig SpaceConfig::load(const std::string& name_or_path) {
  for (auto& n : preset_names())
    if (n == name_or_path) return preset(n);
  if (name_or_path.find('/') == std::string::npos && name_or_path.find(".json") == std::string::npos)
    preset(name_or_path);  // throws the "unknown space" error
  return from_json(read_json_file(name_or_path), name_or_path);
}

json SpaceConfig::to_json() const {
  json stages_j = json::array();
  for (auto& s : stages) stages_j.push_back({{"layers", s.layers}, {"channels", s.channels}, {"stride", s.stride}});
  return {{"name", name},
          {"input", {in_channels, in_height, in_width}},
          {"num_classes", num_classes},
          {"stem_channels", stem_channels},
          {"stem_stride", stem_stride},
          {"stages", stages_j},
          {"head_channels", head_channels},
          {"ops", ops},
          {"default_arch", default_arch}};
}

SpaceConfig SpaceConfig::from_json(const json& j, const std::string& ctx) {
  SpaceConfig c;
  c.name = json_get<std::string>(j, "name", ctx);
  auto in = json_get<std::vector<int>>(j, "input", ctx);
  if (in.size() != 3) fail(ctx, ": field 'input' must be [channels, height, width]");
  c.in_channels = in[0];
  c.in_height = in[1];
  c.in_width = in[2];
  c.num_classes = json_get<int>(j, "num_classes", ctx);
  c.stem_channels = json_get<int>(j, "stem_channels", ctx);
  c.stem_stride = json_get_or<int>(j, "stem_stride", 1, ctx);
  if (!j.contains("stages") || !j["stages"].is_array() || j["stages"].empty())
    fail(ctx, ": field 'stages' must be a non-empty array of {layers, channels, stride}");
  for (size_t i = 0; i < j["stages"].size(); ++i) {
    std::string sctx = cat(ctx, ": stages[", i, "]");
    c.stages.push_back({json_get<int>(j["stages"][i], "layers", sctx), json_get<int>(j["stages"][i], "channels", sctx),
                        json_get<int>(j["stages"][i], "stride", sctx)});
  }
  c.head_channels = json_get<int>(j, "head_channels", ctx);
  c.ops = json_get_or<std::vector<std::string>>(j, "ops", kFbnetOps, ctx);
  c.default_arch = json_get_or<std::string>(j, "default_arch", "", ctx);
  auto positive = [&](int v, const char* what, int max) {
    if (v < 1 || v > max) fail(ctx, ": ", what, " = ", v, " is out of range, expected 1..", max);
  };
  positive(c.in_channels, "input channels", 64);
  positive(c.in_height, "input height", 4096);
  positive(c.in_width, "input width", 4096);
  positive(c.num_classes, "num_classes", 100000);
  positive(c.stem_channels, "stem_channels", 4096);
  positive(c.stem_stride, "stem_stride", 4);
  positive(c.head_channels, "head_channels", 16384);
  for (auto& s : c.stages) {
    positive(s.layers, "stage layers", 64);
    positive(s.channels, "stage channels", 4096);
    positive(s.stride, "stage stride", 4);
  }
  if (c.ops.empty()) fail(ctx, ": field 'ops' must list at least one op");
  return c;
}

Encoding parse_encoding(const std::string& s) {
  if (s == "fp32") return Encoding::Fp32;
  if (s == "fp16") return Encoding::Fp16;
  if (s == "int8") return Encoding::Int8;
  fail("unknown payload encoding '", s, "': expected fp32, fp16 or int8");
}

std::string encoding_name(Encoding e) {
  switch (e) {
    case Encoding::Raw: return "raw-uint8";
    case Encoding::Fp32: return "fp32";
    case Encoding::Fp16: return "fp16";
    case Encoding::Int8: return "int8";
  }
  return "?";
}

int encoding_bytes(Encoding e) {
  switch (e) {
    case Encoding::Fp32: return 4;
    case Encoding::Fp16: return 2;
    default: return 1;
  }
}

static int conv_out(int size, int stride) { return (size + stride - 1) / stride; }  // "same" padding

Space::Space(SpaceConfig cfg) : cfg_(std::move(cfg)) {
  for (auto& n : cfg_.ops) {
    if (std::count(cfg_.ops.begin(), cfg_.ops.end(), n) > 1) fail("space ", cfg_.name, ": op '", n, "' listed twice");
    ops_.push_back(OpSpec::parse(n));
  }
  Shape cur = input_shape();
  Shape stem_out{cfg_.stem_channels, conv_out(cur.h, cfg_.stem_stride), conv_out(cur.w, cfg_.stem_stride)};
  blocks_.push_back({BlockKind::Stem, -1, -1, cur, stem_out, cfg_.stem_stride});
  cur = stem_out;
  int l = 0;
  for (int s = 0; s < int(cfg_.stages.size()); ++s) {
    const StageSpec& st = cfg_.stages[s];
    for (int i = 0; i < st.layers; ++i) {
      int stride = i == 0 ? st.stride : 1;
      Shape out{st.channels, conv_out(cur.h, stride), conv_out(cur.w, stride)};
      for (auto& op : ops_)
        if (op.groups > 1 && (cur.c % op.groups || st.channels % op.groups))
          fail("space ", cfg_.name, ": op ", op.name, " needs channels divisible by ", op.groups, " at layer ", l,
               " (", cur.c, " -> ", st.channels, ")");
      blocks_.push_back({BlockKind::Layer, l++, s, cur, out, stride});
      cur = out;
    }
  }
  blocks_.push_back({BlockKind::Head, -1, -1, cur, Shape{cfg_.num_classes, 1, 1}, 1});
  if (!cfg_.default_arch.empty()) parse_arch(cfg_.default_arch);  // validate early
}

int Space::op_index(const std::string& name) const {
  for (int i = 0; i < num_ops(); ++i)
    if (ops_[i].name == name) return i;
  return -1;
}

Shape Space::boundary_shape(int p) const {
  if (p < 0 || p > num_blocks()) fail("split index ", p, " out of range: expected 0..", num_blocks());
  return p == 0 ? input_shape() : blocks_[p - 1].out;
}

std::string Space::describe_split(int p) const {
  if (p == 0) return "server only (raw input)";
  if (p == num_blocks()) return "device only";
  return "after " + block_name(p - 1);
}

std::string Space::block_name(int b) const {
  const BlockGeom& g = blocks_.at(b);
  if (g.kind == BlockKind::Stem) return "stem";
  if (g.kind == BlockKind::Head) return "head";
  return "layer" + std::to_string(g.layer);
}

std::string Space::layer_key(int l, int op_i) const {
  const BlockGeom& g = layer(l);
  const OpSpec& o = ops_.at(op_i);
  if (o.skip) return cat("Skip_H", g.in.h, "_W", g.in.w, "_Cin", g.in.c, "_Cout", g.out.c, "_stride", g.stride);
  return cat("ConvBlock_H", g.in.h, "_W", g.in.w, "_Cin", g.in.c, "_Cout", g.out.c, "_exp", o.expansion, "_kernel",
             o.kernel, "_stride", g.stride, "_group", o.groups);
}

bool Space::skip_is_identity(int l) const {
  const BlockGeom& g = layer(l);
  return g.in == g.out && g.stride == 1;
}

std::vector<std::string> Space::block_keys(int b, int op_i) const {
  const BlockGeom& g = blocks_.at(b);
  if (g.kind == BlockKind::Layer) return {layer_key(g.layer, op_i)};
  if (g.kind == BlockKind::Stem)
    return {cat("ConvNorm_H", g.in.h, "_W", g.in.w, "_Cin", g.in.c, "_Cout", g.out.c, "_kernel3_stride", g.stride,
                "_group1")};
  const int hc = cfg_.head_channels;
  return {cat("ConvNorm_H", g.in.h, "_W", g.in.w, "_Cin", g.in.c, "_Cout", hc, "_kernel1_stride1_group1"),
          cat("AvgP_H", g.in.h, "_W", g.in.w, "_Cin", hc, "_Cout", hc, "_kernel", g.in.h, "_stride1"),
          cat("FC_Cin", hc, "_Cout", cfg_.num_classes)};
}

int64_t Space::block_macs(int b, int op_i) const {
  const BlockGeom& g = blocks_.at(b);
  const int64_t in_px = int64_t(g.in.h) * g.in.w, out_px = int64_t(g.out.h) * g.out.w;
  if (g.kind == BlockKind::Stem) return out_px * g.in.c * g.out.c * 9;
  if (g.kind == BlockKind::Head) {
    const int64_t hc = cfg_.head_channels;
    return in_px * g.in.c * hc + hc * cfg_.num_classes;
  }
  const OpSpec& o = ops_.at(op_i);
  if (o.skip) return skip_is_identity(g.layer) ? 0 : out_px * g.in.c * g.out.c;
  const int64_t mid = int64_t(g.in.c) * o.expansion;
  return in_px * g.in.c * mid / o.groups + out_px * mid * o.kernel * o.kernel + out_px * mid * g.out.c / o.groups;
}

int64_t Space::macs(const Arch& a) const {
  check_arch(a);
  int64_t total = block_macs(0, 0) + block_macs(num_blocks() - 1, 0);
  for (int l = 0; l < num_layers(); ++l) total += block_macs(l + 1, a[size_t(l)]);
  return total;
}

int64_t Space::payload_bytes(int p, Encoding enc) const {
  Shape s = boundary_shape(p);
  if (p == 0) return s.numel();  // raw uint8 as stored
  if (p == num_blocks()) return 0;
  return s.numel() * encoding_bytes(enc);
}

Arch Space::parse_arch(const std::string& text) const {
  // One digit per layer, the op's index: the form of benchmark tables (NAS-Bench-Macro's "22212220").
  if (num_ops() <= 10 && int(text.size()) == num_layers() &&
      std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    Arch a;
    for (size_t i = 0; i < text.size(); ++i) {
      const int idx = text[i] - '0';
      if (idx >= num_ops())
        fail("op digit ", text[i], " at position ", i, " of architecture ", text, ": expected 0..", num_ops() - 1,
             " (one digit per layer, the op's index in ", name(), ")");
      a.push_back(idx);
    }
    return a;
  }
  std::vector<std::string> names;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string tok = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    tok.erase(0, tok.find_first_not_of(" \t"));
    tok.erase(tok.find_last_not_of(" \t") + 1);
    names.push_back(tok);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (int(names.size()) != num_layers())
    fail("architecture has ", names.size(), " ops, expected ", num_layers(), " (one per layer of space ", name(), ")");
  Arch a;
  for (size_t i = 0; i < names.size(); ++i) {
    int idx = op_index(names[i]);
    if (idx < 0) {
      std::string all;
      for (auto& o : ops_) all += (all.empty() ? "" : ",") + o.name;
      fail("unknown op '", names[i], "' at position ", i, " of the architecture: expected one of ", all);
    }
    a.push_back(idx);
  }
  return a;
}

std::string Space::format_arch(const Arch& a) const {
  check_arch(a);
  std::string s;
  for (size_t i = 0; i < a.size(); ++i) s += (i ? "," : "") + ops_[a[i]].name;
  return s;
}

std::string Space::arch_digits(const Arch& a) const {
  check_arch(a);
  if (num_ops() > 10) fail("space ", name(), " has ", num_ops(), " ops: a digit string needs at most 10");
  std::string s;
  for (int o : a) s += char('0' + o);
  return s;
}

void Space::check_arch(const Arch& a) const {
  if (int(a.size()) != num_layers()) fail("architecture has ", a.size(), " ops, expected ", num_layers());
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] < 0 || a[i] >= num_ops()) fail("op index ", a[i], " at position ", i, " out of range 0..", num_ops() - 1);
}

Arch Space::default_arch() const {
  if (cfg_.default_arch.empty()) return Arch(num_layers(), 0);
  return parse_arch(cfg_.default_arch);
}

json Space::describe() const {
  json blocks = json::array();
  for (int b = 0; b < num_blocks(); ++b) {
    const BlockGeom& g = blocks_[b];
    json keys = json::object();
    if (g.kind == BlockKind::Layer)
      for (int o = 0; o < num_ops(); ++o) keys[ops_[o].name] = layer_key(g.layer, o);
    else
      keys = block_keys(b, 0);
    blocks.push_back({{"index", b},
                      {"name", block_name(b)},
                      {"in", {g.in.c, g.in.h, g.in.w}},
                      {"out", {g.out.c, g.out.h, g.out.w}},
                      {"stride", g.stride},
                      {"keys", keys}});
  }
  json splits = json::array();
  for (int p = 0; p <= num_blocks(); ++p) {
    Shape s = boundary_shape(p);
    json row = {{"split", p}, {"shape", {s.c, s.h, s.w}}};
    if (p == 0)
      row["bytes"] = {{"raw-uint8", payload_bytes(p, Encoding::Raw)}};
    else
      for (Encoding e : {Encoding::Fp32, Encoding::Fp16, Encoding::Int8})
        row["bytes"][encoding_name(e)] = payload_bytes(p, e);
    splits.push_back(row);
  }
  return {{"space", cfg_.to_json()}, {"num_blocks", num_blocks()}, {"blocks", blocks}, {"splits", splits}};
}

}  // namespace nasc
