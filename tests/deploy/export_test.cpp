#include "deploy/export.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../latency/latency_fixtures.h"
#include "deploy/split_runtime.h"
#include "common/error.h"
#include "data/data_spec.h"
#include "deploy/fold.h"
#include "deploy/onnx_export.h"
#include "deploy/split_model.h"
#include "export_fixtures.h"
#include "latency/estimator.h"

using namespace nasc;
using namespace nasc::test;
namespace fs = std::filesystem;

TEST(Fold, FoldedBlocksEqualUnfoldedEvalOutputs) {
  for (const char* arch : {kArchA, kArchB}) {
    Network net = test_network(arch, 1);
    const Space& s = net->space();
    auto before = net->named_parameters().values()[0].clone();
    for (int b = 0; b < s.num_blocks(); ++b) {
      Shape in = s.boundary_shape(b);
      auto x = torch::randn({3, in.c, in.h, in.w});
      FoldedBlock f = fold_block(*net->block(b), b, s.block_name(b));
      torch::NoGradGuard no_grad;
      EXPECT_LE(max_abs_diff(f.forward(x), net->block(b)->forward(x)), 1e-5) << arch << " block " << b;
      // No batch norm survives folding: only convs, shuffles, the pool and the linear layer remain.
      int convs = 0;
      for (auto& st : f.steps) convs += st.kind == FoldedStep::Kind::Conv;
      const OpSpec* op = (b == 0 || b == s.num_blocks() - 1) ? nullptr : &s.op(net->arch()[b - 1]);
      if (op && !op->skip) {
        EXPECT_EQ(convs, 3);
      }
    }
    EXPECT_TRUE(torch::equal(before, net->named_parameters().values()[0])) << "folding changed the network";
  }
}

TEST(Fold, ConvBnFormulaOnOneChannel) {
  // y = gamma * (w x - mean) / sqrt(var + eps) + beta with w = 2, gamma = 3, beta = 1, mean = 0.5, var = 4 - eps.
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 1, 1).bias(false));
  torch::nn::BatchNorm2d bn(1);
  torch::NoGradGuard no_grad;
  conv->weight.fill_(2);
  bn->weight.fill_(3);
  bn->bias.fill_(1);
  bn->running_mean.fill_(0.5);
  bn->running_var.fill_(4 - bn->options.eps());
  FoldedStep s = fold_conv_bn(*conv, *bn, /*relu=*/false);
  EXPECT_FLOAT_EQ(s.weight.item<float>(), 3.0f);  // 2 * 3 / 2
  EXPECT_FLOAT_EQ(s.bias.item<float>(), 0.25f);   // 1 - 0.5 * 3 / 2
}

TEST(Export, HeadThenTailFromFilesEqualsWholeNetwork) {
  for (const char* arch : {kArchA, kArchB}) {
    Network net = test_network(arch, 2);
    const Space& s = net->space();
    const int B = s.num_blocks();
    Normalizer norm = test_normalizer();
    auto pixels = random_pixels(s, 4);
    torch::Tensor whole;
    {
      torch::NoGradGuard no_grad;
      whole = net->forward(normalized(norm, pixels));
    }
    for (int p : {0, 1, 2, 5, B - 1, B}) {
      std::string out = fresh_dir(std::to_string(p));
      ExportOptions opt;
      opt.split = p;
      export_split(*net, norm, opt, out);
      SplitModel head = SplitModel::load(out + "/head"), tail = SplitModel::load(out + "/tail");
      EXPECT_EQ(head.empty(), p == 0);
      EXPECT_EQ(tail.empty(), p == B);
      // Whichever half starts at block 0 normalises; the empty head at p = 0 sends the pixels as they are.
      auto payload = head.normalizer() ? head.forward(head.normalize(pixels)) : head.forward(pixels);
      if (p == 0) {
        EXPECT_TRUE(torch::equal(payload, pixels));
      }
      auto y = tail.normalizer() ? tail.forward(tail.normalize(payload)) : tail.forward(payload);
      EXPECT_EQ(y.sizes(), whole.sizes());
      EXPECT_LE(max_abs_diff(y, whole), 1e-5) << arch << " split " << p;
      fs::remove_all(out);
    }
  }
}

TEST(Export, ManifestAndHalvesDescribeTheSplit) {
  Network net = test_network(kArchA, 3);
  const Space& s = net->space();
  const int B = s.num_blocks();
  for (int p : {0, 4, B}) {
    std::string out = fresh_dir(std::to_string(p));
    ExportOptions opt;
    opt.split = p;
    opt.encoding = Encoding::Fp16;
    json m = export_split(*net, test_normalizer(), opt, out);
    EXPECT_EQ(read_json_file(out + "/manifest.json"), m);
    EXPECT_EQ(m["format"], kManifestFormat);
    EXPECT_EQ(m["split"], p);
    EXPECT_EQ(m["arch"], kArchA);
    EXPECT_EQ(m["classes"], 10);
    EXPECT_EQ(m["payload"]["encoding"], p == 0 ? "raw-uint8" : p == B ? "none" : "fp16");
    EXPECT_EQ(m["payload"]["bytes"], s.payload_bytes(p, p == 0 ? Encoding::Raw : Encoding::Fp16));
    EXPECT_EQ(m["head"]["block_range"], json({0, p}));
    EXPECT_EQ(m["tail"]["block_range"], json({p, B}));
    EXPECT_EQ(Normalizer::from_json(m["normalizer"], "manifest").mean, test_normalizer().mean);
    SplitModel head = SplitModel::load(out + "/head"), tail = SplitModel::load(out + "/tail");
    Shape at = s.boundary_shape(p);
    const std::vector<int64_t> boundary = p == B ? std::vector<int64_t>{10} : std::vector<int64_t>{at.c, at.h, at.w};
    EXPECT_EQ(head.output_shape(), boundary);
    EXPECT_EQ(tail.input_shape(), boundary);
    EXPECT_EQ(head.input_shape(), (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(tail.output_shape(), (std::vector<int64_t>{10}));
    EXPECT_EQ(head.normalizer().has_value(), p > 0);
    EXPECT_EQ(tail.normalizer().has_value(), p == 0);
    EXPECT_EQ(head.role(), "head");
    EXPECT_EQ(tail.begin(), p);
    for (const char* half : {"/head/", "/tail/"})
      for (const char* file : {"model.json", "weights.pt", "model.onnx"})
        if (onnx_available() || std::string(file) != "model.onnx") {
          EXPECT_TRUE(fs::exists(out + half + file)) << out + half + file;
        }
    fs::remove_all(out);
  }
}

TEST(Export, RefusesBadSplitAndNonEmptyOutputWithoutLeavingFiles) {
  Network net = test_network(kArchA, 4);
  std::string out = fresh_dir("out");
  ExportOptions opt;
  opt.split = net->space().num_blocks() + 1;
  EXPECT_THROW(export_split(*net, test_normalizer(), opt, out), Error);
  EXPECT_FALSE(fs::exists(out));
  fs::create_directories(out);
  std::ofstream(out + "/keep.txt") << "x";
  opt.split = 3;
  EXPECT_THROW(export_split(*net, test_normalizer(), opt, out), Error);
  int entries = 0;
  for (auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    entries += e.path().filename().string().rfind(fs::path(out).filename().string() + ".tmp", 0) == 0;
  EXPECT_EQ(entries, 0) << "a temporary export directory was left behind";
  fs::remove_all(out);
}

namespace {
// The kArchA test network exported at split 3 into a fresh directory `name`.
std::string export_split3(const Network& net, const std::string& name) {
  std::string out = fresh_dir(name);
  ExportOptions opt;
  opt.split = 3;
  export_split(*net, test_normalizer(), opt, out);
  return out;
}
}  // namespace

TEST(SplitModel, RejectsWrongInputAndDamagedFiles) {
  Network net = test_network(kArchA, 5);
  std::string out = export_split3(net, "out");
  SplitModel tail = SplitModel::load(out + "/tail");
  EXPECT_THROW(tail.forward(torch::zeros({1, 1, 28, 28})), Error);
  EXPECT_THROW(tail.normalize(random_pixels(net->space(), 1)), Error);  // only the head normalises at p = 3

  // The head's weight archive has none of the tail's keys.
  fs::copy_file(out + "/head/weights.pt", out + "/tail/weights.pt", fs::copy_options::overwrite_existing);
  EXPECT_THROW(SplitModel::load(out + "/tail"), Error);
  std::ofstream(out + "/tail/weights.pt") << "not an archive";
  EXPECT_THROW(SplitModel::load(out + "/tail"), Error);

  json d = read_json_file(out + "/head/model.json");
  d["output_shape"] = {16, 7, 7};  // not what the blocks produce
  write_json_atomic(out + "/head/model.json", d);
  EXPECT_THROW(SplitModel::load(out + "/head"), Error);
  d["format"] = "something else";
  write_json_atomic(out + "/head/model.json", d);
  EXPECT_THROW(SplitModel::load(out + "/head"), Error);
  EXPECT_THROW(SplitModel::load(out + "/nowhere"), Error);
  fs::remove_all(out);
}

namespace {
std::string load_error(const std::string& dir) {
  try {
    SplitModel::load(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

// A half's declaration is checked against its space before anything is read or allocated: the weights file must lie
// in its own directory, the shapes must be the space's at the cut (a [1,100000,100000] input would otherwise be
// allocated by the load-time dry run), the class count the space's; a manifest naming another payload than its
// halves is refused at load, not at the first request.
TEST(SplitModel, DeclarationsAreHeldToTheSpaceAndTheDirectory) {
  Network net = test_network(kArchA, 5);
  std::string out = export_split3(net, "decl");
  const json good = read_json_file(out + "/tail/model.json");
  auto with = [&](const char* field, const json& value) {
    json d = good;
    d[field] = value;
    write_json_atomic(out + "/tail/model.json", d);
    return load_error(out + "/tail");
  };
  EXPECT_NE(with("weights", "../head/weights.pt").find("must be a file name inside"), std::string::npos);
  EXPECT_NE(with("weights", (fs::absolute(out) / "head" / "weights.pt").string()).find("must be a file name inside"),
            std::string::npos);
  EXPECT_NE(with("input_shape", {1, 100000, 100000}).find("expected"), std::string::npos);
  EXPECT_NE(with("input_shape", {3}).find("expected"), std::string::npos);
  EXPECT_NE(with("input_shape", {true, 7, 7}).find("holds"), std::string::npos);
  EXPECT_NE(with("classes", 11).find("classes 11"), std::string::npos);
  EXPECT_NE(with("split", 2.5).find("holds 2.5"), std::string::npos);
  write_json_atomic(out + "/tail/model.json", good);
  EXPECT_EQ(load_error(out + "/tail"), "");

  json m = read_json_file(out + "/manifest.json");
  json bad = m;
  bad["payload"]["shape"] = {4, 4, 4};
  write_json_atomic(out + "/manifest.json", bad);
  try {
    TailRuntime(out, torch::kCPU);
    ADD_FAILURE() << "a manifest whose payload differs from its tail's input was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("payload [4,4,4]"), std::string::npos) << e.what();
  }
  bad = m;
  bad["classes"] = true;
  write_json_atomic(out + "/manifest.json", bad);
  EXPECT_THROW(TailRuntime(out, torch::kCPU), Error);
  write_json_atomic(out + "/manifest.json", m);
  EXPECT_NO_THROW(TailRuntime(out, torch::kCPU));
  fs::remove_all(out);
}

namespace {
// A train run directory as `nasc train` leaves it (the fields export reads).
void write_train_run(const Network& net, const std::string& dir) {
  fs::create_directories(dir);
  json r = {{"command", "train"},
            {"space", net->space().config().to_json()},
            {"arch", net->space().format_arch(net->arch())},
            {"normalizer", test_normalizer().to_json()},
            {"weights", "model.pt"},
            {"test_accuracy", 0.5}};
  write_json_atomic(dir + "/result.json", r);
  torch::save(net, dir + "/model.pt");
}

HardwareProfile saved_profile(const Space& s, uint32_t seed, double lo, double hi, const std::string& cls,
                              const std::string& path) {
  HardwareProfile p = random_profile(s, seed, lo, hi);
  p.meta() = ProfileMeta::from_json(test_metadata(cls), "test");
  p.save(path);
  return HardwareProfile::load(path);
}

int run_nasc(const std::string& args, const std::string& log) {
  return std::system((std::string(NASC_BINARY) + " " + args + " > " + log + " 2>&1").c_str());
}
}  // namespace

TEST(ExportCommand, ExportsTrainRunAndRetrainedSearch) {
  Network net = test_network(kArchB, 6);
  const Space& s = net->space();
  std::string root = fresh_dir("runs");
  write_train_run(net, root + "/train");

  // A bad split fails without creating the output.
  EXPECT_NE(run_nasc("export --from " + root + "/train --split 99 --out " + root + "/x", root + "/log2"), 0);
  EXPECT_FALSE(fs::exists(root + "/x"));
  ASSERT_EQ(
      run_nasc("export --from " + root + "/train --split 3 --encoding fp32 --out " + root + "/e1", root + "/log3"), 0);
  json m1 = read_json_file(root + "/e1/manifest.json");
  EXPECT_EQ(m1["split"], 3);
  EXPECT_TRUE(m1["latency"].is_null());  // no profiles given

  // A search directory whose network was retrained: split, encoding, link and profiles come from search.json.
  HardwareProfile dev = saved_profile(s, 1, 1.0, 4.0, "device", root + "/dev.json");
  HardwareProfile srv = saved_profile(s, 2, 0.05, 0.2, "server", root + "/srv.json");
  LinkModel link{8, 8, 2, false};
  json search = {{"space", s.config().to_json()},
                 {"arch", kArchB},
                 {"split", 4},
                 {"encoding", "int8"},
                 {"link", link.to_json()},
                 {"min_device_blocks", 1},
                 {"device_profile", root + "/dev.json"},
                 {"server_profile", root + "/srv.json"},
                 {"retrained", {{"result", "../train/result.json"}}}};  // relative to the search's folder
  fs::create_directories(root + "/search");
  write_json_atomic(root + "/search/search.json", search);
  ASSERT_EQ(run_nasc("export --from " + root + "/search --out " + root + "/e2", root + "/log4"), 0);
  json m2 = read_json_file(root + "/e2/manifest.json");
  LatencyEstimator est(s, dev, srv, link, Encoding::Int8);
  EXPECT_EQ(m2["split"], 4);
  EXPECT_EQ(m2["payload"]["encoding"], "int8");
  EXPECT_NEAR(m2["latency"]["total_ms"].get<double>(), est.total_ms(net->arch(), 4), 1e-9);

  ASSERT_EQ(run_nasc("export --from " + root + "/search --split best --out " + root + "/e3", root + "/log5"), 0);
  EXPECT_EQ(read_json_file(root + "/e3/manifest.json")["split"], est.best_split(net->arch(), 1).split);

  // Several splits: every one from the search's privacy floor, or a list; a bad list writes nothing.
  ASSERT_EQ(run_nasc("export --from " + root + "/search --splits all --out " + root + "/e4", root + "/log6"), 0);
  json m4 = read_json_file(root + "/e4/manifest.json");
  EXPECT_EQ(m4["split"], 4);
  EXPECT_EQ(m4["splits"].size(), size_t(s.num_blocks()));  // 1..B
  EXPECT_EQ(m4["tail"]["block_range"], (std::vector<int>{1, s.num_blocks()}));
  ASSERT_EQ(run_nasc("export --from " + root + "/search --splits 2,6 --out " + root + "/e5", root + "/log7"), 0);
  EXPECT_EQ(read_json_file(root + "/e5/manifest.json")["head"]["block_range"], (std::vector<int>{0, 6}));
  EXPECT_NE(run_nasc("export --from " + root + "/search --splits 2,x --out " + root + "/e6", root + "/log8"), 0);
  EXPECT_FALSE(fs::exists(root + "/e6"));
  std::ifstream log8(root + "/log8");
  std::string line;
  std::getline(log8, line);
  EXPECT_NE(line.find("--splits '2,x': 'x' is not a block index"), std::string::npos) << line;

  // The halves hold the trained weights that model.pt carried.
  auto pixels = random_pixels(s, 2);
  SplitModel head = SplitModel::load(root + "/e2/head"), tail = SplitModel::load(root + "/e2/tail");
  torch::NoGradGuard no_grad;
  EXPECT_LE(max_abs_diff(tail.forward(head.forward(head.normalize(pixels))),
                         net->forward(normalized(test_normalizer(), pixels))),
            1e-5);
  fs::remove_all(root);
}

namespace {
// The first line of `path` holding `marker`, waiting up to `seconds` for a background process to write it.
std::string wait_for_line(const std::string& path, const std::string& marker, double seconds) {
  for (int i = 0; i < int(seconds * 20); ++i) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
      if (line.find(marker) != std::string::npos) return line;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}
}  // namespace

TEST(SplitProcesses, MutualTlsPairAnswersLikeTheInProcessSplit) {
  Network net = test_network(kArchB, 7);
  std::string root = fresh_dir("tls-pair");
  write_train_run(net, root + "/train");
  saved_profile(net->space(), 1, 1.0, 4.0, "device", root + "/dev.json");
  saved_profile(net->space(), 2, 0.05, 0.2, "server", root + "/srv.json");
  ASSERT_EQ(run_nasc("export --from " + root + "/train --split 3 --encoding fp32 --bandwidth 100 --delay 1 "
                     "--device-profile " + root + "/dev.json --server-profile " + root + "/srv.json --out " + root + "/e",
                     root + "/export.log"),
            0);
  ASSERT_EQ(std::system(("'" NASC_SOURCE_DIR "/scripts/make-certs.sh' " + root + "/certs > /dev/null").c_str()), 0);

  const std::string serve_log = root + "/serve.log";
  ASSERT_EQ(std::system(("'" NASC_BINARY "' serve --model " + root + "/e --listen 127.0.0.1:0 --tls " + root +
                         "/certs --device cpu --threads 1 > " + serve_log + " 2>&1 & echo $! > " + root + "/pid")
                            .c_str()),
            0);
  const std::string serving = wait_for_line(serve_log, "serving", 30);
  ASSERT_FALSE(serving.empty()) << "nasc serve did not start";
  const int port = std::stoi(serving.substr(serving.find("127.0.0.1:") + 10));
  EXPECT_FALSE(wait_for_line(serve_log, "TLS 1.3: devices need a certificate", 1).empty());
  const std::string server = " --server 127.0.0.1:" + std::to_string(port);

  const int limit = 64;
  const int rc = std::system(("'" NASC_BINARY "' client --model " + root + "/e" + server + " --tls " + root +
                              "/certs --data fmnist --limit " + std::to_string(limit) +
                              " --encoding fp32 --device cpu --threads 1 --json > " + root + "/client.json 2> " + root +
                              "/client.log")
                                 .c_str());
  // A device without TLS is turned away by the server process with the reason.
  const int plain = run_nasc("client --model " + root + "/e" + server + " --limit 1 --no-link", root + "/plain.log");
  std::system(("kill -INT $(cat " + root + "/pid)").c_str());
  const std::string stopped = wait_for_line(serve_log, "stopped:", 10);
  ASSERT_EQ(rc, 0) << "nasc client failed; see " << root << "/client.log";
  EXPECT_NE(plain, 0);
  EXPECT_FALSE(wait_for_line(root + "/plain.log", "tls_required: this server accepts TLS connections only", 1).empty());

  const json report = read_json_file(root + "/client.json");
  EXPECT_EQ(report["measured"]["images"], limit);
  EXPECT_GT(report["predicted"]["total_ms"].get<double>(), 0.0);  // measured beside the estimator, as without TLS
  // Same halves, same images, same fp32 payload: the accuracy is the in-process split's to the image.
  const ImageSet test = load_train_test(DataSpec::parse("fmnist"), 28, 28).test;
  SplitModel head = SplitModel::load(root + "/e/head"), tail = SplitModel::load(root + "/e/tail");
  torch::NoGradGuard no_grad;
  auto pixels = torch::from_blob(const_cast<uint8_t*>(test.pixels.data()), {limit, 1, 28, 28}, torch::kUInt8).clone();
  auto predicted = tail.forward(head.forward(head.normalize(pixels))).argmax(1);
  int correct = 0;
  for (int i = 0; i < limit; ++i) correct += predicted[i].item<int64_t>() == test.labels[size_t(i)];
  EXPECT_DOUBLE_EQ(report["measured"]["accuracy"].get<double>(), double(correct) / limit);
  ASSERT_FALSE(stopped.empty()) << "nasc serve did not stop on SIGINT";
  const json stats = json::parse(stopped.substr(stopped.find('{')));
  EXPECT_EQ(stats["requests"], limit);
  EXPECT_EQ(stats["connections"]["tls_refused"], 1);
  fs::remove_all(root);
}
