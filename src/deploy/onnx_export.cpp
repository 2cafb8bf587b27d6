#include "deploy/onnx_export.h"

#include <fstream>

#include "common/error.h"

#if NASC_HAVE_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#endif

namespace nasc {

#if NASC_HAVE_ONNX

namespace {

// Appends nodes to one graph and names every intermediate tensor uniquely.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* g) : g_(g) {}

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& prefix,
                        const std::string& output = "") {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(prefix + "_" + op);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(output.empty() ? prefix + "_" + op + "_out" : output);
    return n;
  }

  // Raw little-endian fp32 data: the byte order ONNX prescribes, and the host's on every platform LibTorch runs on.
  std::string float_init(const std::string& name, const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    auto* tp = g_->add_initializer();
    tp->set_name(name);
    tp->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : c.sizes()) tp->add_dims(d);
    tp->set_raw_data(std::string(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float)));
    return name;
  }

  std::string int64_init(const std::string& name, const std::vector<int64_t>& v) {
    auto* tp = g_->add_initializer();
    tp->set_name(name);
    tp->set_data_type(onnx::TensorProto::INT64);
    tp->add_dims(int64_t(v.size()));
    for (auto x : v) tp->add_int64_data(x);
    return name;
  }

 private:
  onnx::GraphProto* g_;
};

void attr_int(onnx::NodeProto* n, const char* name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void attr_ints(onnx::NodeProto* n, const char* name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

void value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& shape) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* s = tt->mutable_shape();
  s->add_dim()->set_dim_param("batch");
  for (auto d : shape) s->add_dim()->set_dim_value(d);
}

// Emits one step; `shape` (without batch) follows the tensor so that a shuffle can name its 5-d view.
std::string emit_step(GraphBuilder& gb, const FoldedStep& s, const std::string& x, const std::string& prefix,
                      std::vector<int64_t>& shape) {
  switch (s.kind) {
    case FoldedStep::Kind::Conv: {
      const int64_t k = s.weight.size(2);
      if (shape.size() != 3) fail("onnx export: ", prefix, " is a conv on a tensor of rank ", shape.size() + 1);
      auto* n =
          gb.node("Conv", {x, gb.float_init(prefix + "_W", s.weight), gb.float_init(prefix + "_B", s.bias)}, prefix);
      attr_ints(n, "kernel_shape", {k, k});
      attr_ints(n, "strides", {s.stride, s.stride});
      attr_ints(n, "pads", {s.padding, s.padding, s.padding, s.padding});
      attr_ints(n, "dilations", {1, 1});
      attr_int(n, "group", s.groups);
      shape = {s.weight.size(0), (shape[1] + 2 * s.padding - k) / s.stride + 1,
               (shape[2] + 2 * s.padding - k) / s.stride + 1};
      return s.relu ? gb.node("Relu", {n->output(0)}, prefix)->output(0) : n->output(0);
    }
    case FoldedStep::Kind::Shuffle: {
      const int64_t c = shape.at(0), h = shape.at(1), w = shape.at(2), g = s.groups;
      // Shape value 0 copies the input's (batch) dimension, so the batch stays symbolic.
      auto* r1 = gb.node("Reshape", {x, gb.int64_init(prefix + "_split", {0, g, c / g, h, w})}, prefix + "_a");
      auto* t = gb.node("Transpose", {r1->output(0)}, prefix);
      attr_ints(t, "perm", {0, 2, 1, 3, 4});
      return gb.node("Reshape", {t->output(0), gb.int64_init(prefix + "_merge", {0, c, h, w})}, prefix + "_b")
          ->output(0);
    }
    case FoldedStep::Kind::GlobalPool: {
      auto* p = gb.node("GlobalAveragePool", {x}, prefix);
      auto* f = gb.node("Flatten", {p->output(0)}, prefix);
      attr_int(f, "axis", 1);
      shape = {shape.at(0)};
      return f->output(0);
    }
    case FoldedStep::Kind::Linear: {
      auto* n =
          gb.node("Gemm", {x, gb.float_init(prefix + "_W", s.weight), gb.float_init(prefix + "_B", s.bias)}, prefix);
      attr_int(n, "transB", 1);
      shape = {s.weight.size(0)};
      return n->output(0);
    }
  }
  fail("onnx export: step of unknown kind");
}

}  // namespace

bool onnx_available() { return true; }

void write_onnx(const std::vector<FoldedBlock>& blocks, const std::vector<int64_t>& input_shape,
                const std::vector<int64_t>& output_shape, const std::string& graph_name, const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(7);  // the IR version that opset 13 shipped with
  model.set_producer_name("nasc");
  model.set_producer_version(NASC_VERSION);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(graph_name);
  GraphBuilder gb(g);

  std::string x = "input";
  std::vector<int64_t> shape = input_shape;
  for (const auto& b : blocks) {
    const std::string in = x;
    for (size_t i = 0; i < b.steps.size(); ++i) x = emit_step(gb, b.steps[i], x, cat("b", b.index, "_s", i), shape);
    if (b.residual) x = gb.node("Add", {x, in}, cat("b", b.index, "_residual"))->output(0);
  }
  if (shape != output_shape)
    fail("onnx export of ", graph_name, ": the blocks do not end in the declared output shape");
  // Renaming the last node's output keeps names unique; a half without nodes (no blocks, or only identity
  // skips) is one Identity node.
  if (x == "input")
    gb.node("Identity", {x}, "identity", "output");
  else
    g->mutable_node(g->node_size() - 1)->set_output(0, "output");
  value_info(g->add_input(), "input", input_shape);
  value_info(g->add_output(), "output", output_shape);

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    fail("onnx export of ", graph_name, " failed the ONNX checker: ", e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) fail("onnx export of ", graph_name, ": protobuf serialisation failed");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.flush();
  if (!out) fail("cannot write ", path, ": expected a writable directory");
}

void check_onnx_file(const std::string& path) {
  try {
    onnx::checker::check_model(path);
  } catch (const std::exception& e) {
    fail(path, ": not a valid ONNX model (", e.what(), ")");
  }
}

#else

bool onnx_available() { return false; }

void write_onnx(const std::vector<FoldedBlock>&, const std::vector<int64_t>&, const std::vector<int64_t>&,
                const std::string& graph_name, const std::string&) {
  fail("cannot write ", graph_name, " as ONNX: this nasc was built without libonnx (install libonnx-dev and rebuild)");
}

void check_onnx_file(const std::string& path) {
  fail("cannot check ", path, ": this nasc was built without libonnx (install libonnx-dev and rebuild)");
}

#endif

}  // namespace nasc
