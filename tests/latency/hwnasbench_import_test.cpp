// Runs scripts/hwnasbench-to-profile.py on a small pickle shaped like HW-NAS-Bench's and loads what it writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>

#include "common/error.h"
#include "latency/estimator.h"
#include "latency/profile.h"

namespace nasc {
namespace {

namespace fs = std::filesystem;

const std::string kScript = std::string(NASC_SOURCE_DIR) + "/scripts/hwnasbench-to-profile.py";

class HwNasBenchImport : public testing::Test {
 protected:
  void SetUp() override {
    if (std::system("python3 -c 'import pickle' > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not available";
    // Unique per test and process: CTest runs the tests of this fixture in parallel.
    dir = fs::path(testing::TempDir()) /
          ("nasc_hwnas_import_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
           std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  // Writes {'fbnet': fbnet, 'nasbench201': {}} as a protocol-0 pickle (nested dicts of str -> float): built
  // here rather than by a second Python process, which keeps the test fast.
  std::string write_pickle(const json& fbnet) {
    std::string path = (dir / "bench.pickle").string();
    std::ofstream(path) << "(dVfbnet\n" << pickle_of(fbnet) << "sVnasbench201\n(ds.";
    return path;
  }
  static std::string pickle_of(const json& j) {
    if (!j.is_object()) return cat("F", std::setprecision(17), j.get<double>(), "\n");
    std::string s = "(d";
    for (auto& [k, v] : j.items()) s += "V" + k + "\n" + pickle_of(v) + "s";
    return s;
  }
  int run_script(const std::string& args) {
    std::string cmd = "python3 '" + kScript + "' " + args + " 2> '" + (dir / "stderr.txt").string() + "'";
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string stderr_text() {
    std::ifstream in(dir / "stderr.txt");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir;
};

TEST_F(HwNasBenchImport, TablesLoadUnchangedAndServeTheirSpace) {
  Space cifar(SpaceConfig::preset("hwnas-cifar"));
  json fbnet;
  std::vector<std::string> keys = space_keys(cifar);
  for (size_t i = 0; i < keys.size(); ++i) {
    fbnet["edgegpu_latency"][keys[i]] = 0.5 + 0.001 * double(i);
    fbnet["raspi4_latency"][keys[i]] = 10.0 + 0.25 * double(i);
  }
  fbnet["edgegpu_energy"]["FC_Cin1504_Cout100"] = 3.0;  // other metrics are ignored
  std::string pickle = write_pickle(fbnet);
  std::string out = (dir / "profiles").string();
  ASSERT_EQ(run_script("'" + pickle + "' --out-dir '" + out + "' --devices edgegpu,raspi4"), 0) << stderr_text();

  HardwareProfile edge = HardwareProfile::load(out + "/hwnas-edgegpu.json");
  HardwareProfile pi = HardwareProfile::load(out + "/hwnas-raspi4.json");
  EXPECT_EQ(edge.entries().size(), keys.size());
  EXPECT_EQ(edge.ms(keys[3]), 0.5 + 0.001 * 3);
  EXPECT_EQ(pi.ms(keys.back()), 10.0 + 0.25 * double(keys.size() - 1));
  EXPECT_EQ(edge.meta().batch_size, 1);
  EXPECT_FALSE(edge.meta().threads.has_value());
  EXPECT_NE(edge.meta().notes.find("edgegpu_latency"), std::string::npos);
  EXPECT_TRUE(edge.missing_keys(cifar).empty());

  // The whole-network sum equals HW-NAS-Bench's own per-architecture metric: stem + 22 layers + head parts.
  LatencyEstimator est(cifar, pi, edge, LinkModel{}, Encoding::Fp32);
  Arch arch = cifar.default_arch();
  double expect = 0;
  for (int b = 0; b < cifar.num_blocks(); ++b)
    for (auto& k : cifar.block_keys(b, b >= 1 && b <= cifar.num_layers() ? arch[b - 1] : 0)) expect += pi.ms(k);
  EXPECT_NEAR(est.breakdown(arch, cifar.num_blocks()).device_ms, expect, 1e-9);
}

TEST_F(HwNasBenchImport, BadInputFailsWithoutWritingFiles) {
  std::string out = (dir / "profiles").string();
  json fbnet;
  fbnet["edgegpu_latency"]["FC_Cin1504_Cout100"] = 0.1;
  std::string pickle = write_pickle(fbnet);
  // raspi4 is missing: no file at all, not even edgegpu's.
  EXPECT_EQ(run_script("'" + pickle + "' --out-dir '" + out + "' --devices edgegpu,raspi4"), 2);
  EXPECT_NE(stderr_text().find("raspi4_latency"), std::string::npos) << stderr_text();
  EXPECT_FALSE(fs::exists(out + "/hwnas-edgegpu.json"));

  fbnet["raspi4_latency"]["FC_Cin1504_Cout100"] = -1.0;
  pickle = write_pickle(fbnet);
  EXPECT_EQ(run_script("'" + pickle + "' --out-dir '" + out + "' --devices raspi4"), 2);
  EXPECT_NE(stderr_text().find("FC_Cin1504_Cout100"), std::string::npos) << stderr_text();

  std::ofstream(dir / "junk.pickle") << "not a pickle";
  EXPECT_EQ(run_script("'" + (dir / "junk.pickle").string() + "' --out-dir '" + out + "'"), 2);
  EXPECT_NE(stderr_text().find("junk.pickle"), std::string::npos) << stderr_text();
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace nasc
