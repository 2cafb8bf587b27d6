#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "deploy/export.h"
#include "deploy/onnx_export.h"
#include "deploy/split_model.h"
#include "export_fixtures.h"

#if NASC_HAVE_ONNX
#include <onnx/onnx_pb.h>
#endif

using namespace nasc;
using namespace nasc::test;
namespace fs = std::filesystem;

#if NASC_HAVE_ONNX

namespace {

onnx::ModelProto read_model(const std::string& path) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(m.ParseFromIstream(&in)) << path;
  return m;
}

std::set<std::string> op_types(const onnx::ModelProto& m) {
  std::set<std::string> ops;
  for (const auto& n : m.graph().node()) ops.insert(n.op_type());
  return ops;
}

std::string tail_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// onnxruntime from PyPI, installed once per build directory into a virtual environment (build/onnx-venv) from the
// pinned tests/deploy/onnx/requirements.txt, and again whenever that file changes: the copy of it in the venv is the
// stamp of a finished install. --no-deps: every transitive package is pinned in the file itself. Returns the venv's
// python, or an empty string on failure with the reason in `why`.
std::string onnxruntime_python(std::string& why) {
  const fs::path reqs = fs::path(NASC_SOURCE_DIR) / "tests" / "deploy" / "onnx" / "requirements.txt";
  const fs::path venv = fs::path(NASC_BINARY).parent_path() / "onnx-venv";
  const fs::path stamp = venv / "requirements.txt";
  const std::string python = (venv / "bin" / "python").string();
  if (fs::exists(stamp) && read_text(stamp) == read_text(reqs)) return python;
  fs::remove_all(venv);
  const std::string log = (fs::path(NASC_BINARY).parent_path() / "onnx-venv.log").string();
  const std::string cmd = std::string("'") + NASC_TEST_PYTHON + "' -m venv '" + venv.string() + "' > '" + log +
                          "' 2>&1 && '" + python + "' -m pip install -q --no-deps --disable-pip-version-check -r '" +
                          reqs.string() + "' >> '" + log + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    fs::remove_all(venv);
    why = "installing onnxruntime from PyPI into " + venv.string() + " failed (is " + NASC_TEST_PYTHON +
          " with its venv module installed, and PyPI reachable?); " + log + ":\n" + tail_of(log);
    return "";
  }
  fs::copy_file(reqs, stamp, fs::copy_options::overwrite_existing);
  return python;
}

json tensor_json(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat).contiguous();
  return {{"shape", c.sizes().vec()},
          {"data", std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())}};
}

torch::Tensor tensor_from_json(const json& j) {
  auto data = j.at("data").get<std::vector<float>>();
  return torch::tensor(data).view(j.at("shape").get<std::vector<int64_t>>());
}

}  // namespace

TEST(Onnx, ExportedHalvesPassTheCheckerWithTheExpectedGraph) {
  Network net = test_network(kArchA, 7);
  const int B = net->space().num_blocks();
  for (int p : {0, 3, B}) {
    std::string out = fresh_dir(std::to_string(p));
    ExportOptions opt;
    opt.split = p;
    export_split(*net, test_normalizer(), opt, out);
    for (const char* half : {"head", "tail"}) {
      const std::string path = out + "/" + half + "/model.onnx";
      EXPECT_NO_THROW(check_onnx_file(path)) << path;
      onnx::ModelProto m = read_model(path);
      ASSERT_EQ(m.opset_import_size(), 1);
      EXPECT_EQ(m.opset_import(0).version(), kOnnxOpset);
      const auto& in = m.graph().input(0).type().tensor_type().shape();
      EXPECT_EQ(in.dim(0).dim_param(), "batch");
      EXPECT_EQ(m.graph().output(0).name(), "output");
      const bool empty = (p == 0 && std::string(half) == "head") || (p == B && std::string(half) == "tail");
      if (empty) {
        EXPECT_EQ(op_types(m), std::set<std::string>{"Identity"});
      }
    }
    if (p == 0) {
      // The whole network in one graph: every kind of node the exporter emits.
      EXPECT_EQ(op_types(read_model(out + "/tail/model.onnx")),
                (std::set<std::string>{"Add", "Conv", "Flatten", "Gemm", "GlobalAveragePool", "Relu", "Reshape",
                                       "Transpose"}));
    }
    fs::remove_all(out);
  }
  // A damaged file is reported as an Error naming it.
  std::string bad = fresh_dir("bad.onnx");
  std::ofstream(bad) << "not a model";
  EXPECT_THROW(check_onnx_file(bad), Error);
  fs::remove(bad);
}

TEST(Onnx, OnnxRuntimeMatchesLibTorchOnEveryHalf) {
  std::string why;
  const std::string python = onnxruntime_python(why);
  ASSERT_FALSE(python.empty()) << why;  // never a skip: without the independent runtime the export is unverified

  std::string root = fresh_dir("work");
  fs::create_directories(root);
  struct Case {
    std::string model, input, output;
    torch::Tensor expected;
  };
  std::vector<Case> cases;
  std::string args;
  for (const char* arch : {kArchA, kArchB}) {
    Network net = test_network(arch, 8);
    const int B = net->space().num_blocks();
    auto x = normalized(test_normalizer(), random_pixels(net->space(), 2));
    for (int p : {2, 5, B - 1}) {
      const std::string out = root + "/" + std::to_string(cases.size()) + "_p" + std::to_string(p);
      ExportOptions opt;
      opt.split = p;
      export_split(*net, test_normalizer(), opt, out);
      SplitModel head = SplitModel::load(out + "/head"), tail = SplitModel::load(out + "/tail");
      auto mid = head.forward(x);
      for (auto [half, model, input] : {std::tuple{"head", &head, x}, std::tuple{"tail", &tail, mid}}) {
        Case c{out + "/" + half + "/model.onnx", out + "/" + half + "_in.json", out + "/" + half + "_out.json",
               model->forward(input)};
        write_json_atomic(c.input, tensor_json(input));
        args += " '" + c.model + "' '" + c.input + "' '" + c.output + "'";
        cases.push_back(c);
      }
    }
  }
  const std::string log = root + "/onnxruntime.log";
  const std::string cmd =
      "'" + python + "' '" + NASC_SOURCE_DIR + "/tests/deploy/onnx/run.py'" + args + " > '" + log + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "onnxruntime failed:\n" << tail_of(log);
  for (const auto& c : cases) {
    torch::Tensor got = tensor_from_json(read_json_file(c.output));
    ASSERT_EQ(got.sizes(), c.expected.sizes()) << c.model;
    const float scale = std::max(1.0f, c.expected.abs().max().item<float>());
    EXPECT_LE(max_abs_diff(got, c.expected), 1e-4 * scale) << c.model;
  }
  fs::remove_all(root);
}

#else

TEST(Onnx, BuiltWithoutLibonnx) {
  EXPECT_FALSE(onnx_available());
  GTEST_SKIP() << "nasc was built without libonnx: ONNX export is not tested";
}

#endif
