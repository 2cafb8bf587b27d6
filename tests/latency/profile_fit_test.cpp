#include "latency/profile_fit.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <random>

#include "common/error.h"
#include "latency_fixtures.h"

namespace nasc {
namespace {

using test::error_of;

std::string write_csv(const std::string& name, const std::string& text) { return test::write_temp_file(name, text); }

double network_ms(const Space& s, const HardwareProfile& p, const Arch& a) {
  double ms = 0;
  for (int b = 0; b < s.num_blocks(); ++b)
    for (const auto& k : s.block_keys(b, s.block(b).kind == BlockKind::Layer ? a[s.block(b).layer] : 0)) ms += p.ms(k);
  return ms;
}

// A known additive table of the hwnas-cifar space (identity skips at 0), whole-network timings of random
// architectures written to a CSV the way a published table would be, then fitted back.
class ExactTable : public testing::Test {
 protected:
  ExactTable() : space(SpaceConfig::preset("hwnas-cifar")) {
    // Blocks 0.5-3 ms; stem, head and the convolutional skips 0.05-0.3 ms, so that any apportioning of their
    // sum leaves every block of a layer >= 0, as on real hardware.
    truth = test::random_profile(space, 7, 0.5, 3.0);
    for (int b : {0, space.num_blocks() - 1})
      for (const auto& k : space.block_keys(b, 0)) truth.set(k, truth.ms(k) / 10);
    for (int l = 0; l < space.num_layers(); ++l) {
      const std::string sk = space.layer_key(l, space.op_index("skip"));
      truth.set(sk, space.skip_is_identity(l) ? 0.0 : truth.ms(sk) / 10);
    }
    reference = test::random_profile(space, 8, 0.1, 1.0);
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> op(0, space.num_ops() - 1);
    std::ostringstream csv;
    csv << "arch,dev_ms,other\n" << std::setprecision(17);
    for (int i = 0; i < 600; ++i) {
      Arch a(space.num_layers());
      for (int& o : a) o = op(rng);
      archs.push_back(a);
      csv << '"' << space.format_arch(a) << "\"," << network_ms(space, truth, a) << ",x\n";
    }
    path = write_csv("exact.csv", csv.str());
  }
  Space space;
  HardwareProfile truth, reference;
  std::vector<Arch> archs;
  std::string path;
};

TEST_F(ExactTable, RecoversEveryIdentifiableTermAndKeepsWholeNetworkSumsExact) {
  const auto rows = read_timings_csv(path, space, "arch", "dev_ms");
  ASSERT_EQ(rows.size(), 600u);
  EXPECT_EQ(rows[0].line, 2);
  const ProfileFit fit = fit_profile(space, rows, reference, {});
  const HardwareProfile& p = fit.profile;
  EXPECT_EQ(fit.test.rows, 120u);
  EXPECT_EQ(fit.train.rows, 480u);
  EXPECT_GT(fit.test.r2, 1 - 1e-12);
  EXPECT_LT(fit.test.max_abs_err_ms, 1e-9);
  EXPECT_NEAR(fit.test.spearman, 1.0, 1e-12);
  for (const auto& a : archs) EXPECT_NEAR(network_ms(space, p, a), network_ms(space, truth, a), 1e-9);

  const int skip = space.op_index("skip");
  double constant = 0;
  for (int b : {0, space.num_blocks() - 1})
    for (const auto& k : space.block_keys(b, 0)) constant += truth.ms(k);
  int conv_skips = 0;
  for (int l = 0; l < space.num_layers(); ++l) {
    const std::string sk = space.layer_key(l, skip);
    if (space.skip_is_identity(l)) {
      EXPECT_EQ(p.ms(sk), 0.0);
      for (int o = 0; o < space.num_ops(); ++o)  // the level of an identity layer is fixed: exact values
        EXPECT_NEAR(p.ms(space.layer_key(l, o)), truth.ms(space.layer_key(l, o)), 1e-9) << l << " " << o;
    } else {
      ++conv_skips;
      constant += truth.ms(sk);
      for (int o = 0; o < space.num_ops(); ++o)  // only differences to the skip are identified
        EXPECT_NEAR(p.ms(space.layer_key(l, o)) - p.ms(sk), truth.ms(space.layer_key(l, o)) - truth.ms(sk), 1e-9);
      // The apportioning rule: shares in proportion to the reference.
      const std::string stem = space.block_keys(0, 0)[0];
      EXPECT_NEAR(p.ms(sk) / p.ms(stem), reference.ms(sk) / reference.ms(stem), 1e-9);
    }
  }
  EXPECT_EQ(conv_skips, 6);
  EXPECT_NEAR(fit.constant_ms, constant, 1e-9);
  // c, layer0's 8 blocks, 8 per first layer of stages 2-7 (over its skip), 8 shared by the other layers of a stage
  EXPECT_EQ(fit.terms, 1 + 8 + 6 * 8 + 5 * 8);
  EXPECT_EQ(p.missing_keys(space).size(), 0u);
  EXPECT_EQ(p.meta().fit["reference_profile"], reference.source());
  EXPECT_TRUE(p.meta().fit["test"].is_object());
}

TEST_F(ExactTable, PricesOtherClassCountsAndSavesAReadableProfile) {
  ProfileFitOptions opt;
  opt.holdout = 0;
  opt.extra_head_classes = {10};
  ProfileFit fit = fit_profile(space, read_timings_csv(path, space, "arch", "dev_ms"), reference, opt);
  EXPECT_EQ(fit.test.rows, 0u);
  EXPECT_TRUE(fit.profile.meta().fit["test"].is_null());
  const Space cifar10(SpaceConfig::preset("hwnas-cifar10"));
  EXPECT_EQ(fit.profile.missing_keys(cifar10).size(), 0u);
  EXPECT_EQ(fit.profile.ms("FC_Cin1504_Cout10"), fit.profile.ms("FC_Cin1504_Cout100"));
  fit.profile.meta().device_class = "device";
  const std::string out = write_csv("fitted.json", "");
  fit.profile.save(out);
  const HardwareProfile back = HardwareProfile::load(out);
  EXPECT_EQ(back.meta().fit["constant_ms"].get<double>(), fit.constant_ms);
  EXPECT_EQ(back.ms("FC_Cin1504_Cout10"), fit.profile.ms("FC_Cin1504_Cout10"));
}

TEST_F(ExactTable, SameSeedSameProfile) {
  const auto rows = read_timings_csv(path, space, "arch", "dev_ms");
  const ProfileFit a = fit_profile(space, rows, reference, {}), b = fit_profile(space, rows, reference, {});
  EXPECT_EQ(a.profile.to_json()["latency_ms"], b.profile.to_json()["latency_ms"]);
  EXPECT_EQ(a.test.max_abs_err_ms, b.test.max_abs_err_ms);
}

// micro space: layer0 4->4 (identity skip), layer1 4->8 stride 2 (convolutional skip); ops k3_e1, skip; 3 terms.
class BadTimings : public testing::Test {
 protected:
  BadTimings() : space(test::micro_space()), reference(HardwareProfile::from_json(test::micro_device_profile(), "ref")) {}
  std::string read_error(const std::string& text, const std::string& column = "ms") {
    const std::string path = write_csv("bad.csv", text);
    return error_of([&] { read_timings_csv(path, space, "arch", column); });
  }
  std::string fit_error(const std::string& text) {
    const std::string path = write_csv("fit.csv", text);
    ProfileFitOptions opt;
    opt.holdout = 0;
    return error_of([&] { fit_profile(space, read_timings_csv(path, space, "arch", "ms"), reference, opt); });
  }
  Space space;
  HardwareProfile reference;
};

TEST_F(BadTimings, EachProblemIsOneLineNamingTheRow) {
  const std::string head = "arch,ms\n\"k3_e1,skip\",1\n";
  EXPECT_NE(read_error(head + "\"k3_e1,k9_e9\",2\n").find(":3: column 'arch': unknown op 'k9_e9'"), std::string::npos);
  EXPECT_NE(read_error(head + "\"k3_e1\",2\n").find(":3: column 'arch': architecture has 1 ops, expected 2"),
            std::string::npos);
  EXPECT_NE(read_error(head + "\"skip,skip\",\n").find(":3: column 'ms': latency is missing"), std::string::npos);
  EXPECT_NE(read_error(head + "\"skip,skip\",fast\n").find(":3: column 'ms': latency 'fast' is not a number"),
            std::string::npos);
  EXPECT_NE(read_error(head + "\"skip,skip\",2ms\n").find(":3: column 'ms': latency '2ms' is not a number"),
            std::string::npos);
  EXPECT_NE(read_error(head + "\"skip,skip\",-1\n").find(":3: column 'ms': latency -1 is not a finite value > 0"),
            std::string::npos);
  EXPECT_NE(read_error(head + "\"skip,skip\",0\n").find("is not a finite value > 0"), std::string::npos);
  EXPECT_NE(read_error(head + "\"skip,skip\",nan\n").find("latency 'nan' is not a number"), std::string::npos);
  EXPECT_NE(read_error(head, "raspi4_ms").find("no column 'raspi4_ms' (columns: arch, ms)"), std::string::npos);
  EXPECT_NE(read_error("arch,ms\n").find("no rows after the header"), std::string::npos);
}

TEST_F(BadTimings, TooFewOrTooUniformRowsCannotIdentifyEveryTerm) {
  EXPECT_NE(fit_error("arch,ms\n\"k3_e1,skip\",1\n\"skip,skip\",2\n").find("2 rows in the fit (0 held out) for 3 terms"),
            std::string::npos);
  // layer1 never takes k3_e1: its key cannot be priced
  const std::string never = fit_error("arch,ms\n\"k3_e1,skip\",1\n\"skip,skip\",2\n\"k3_e1,skip\",1\n");
  EXPECT_NE(never.find("key ConvBlock_H4_W4_Cin4_Cout8_exp1_kernel3_stride2_group1 occurs in none of the 3 rows"),
            std::string::npos)
      << never;
  // the two layers always change together: their terms are confounded
  const std::string tied = fit_error("arch,ms\n\"k3_e1,k3_e1\",3\n\"skip,skip\",2\n\"k3_e1,k3_e1\",3\n");
  EXPECT_NE(tied.find("identify 2 of 3 terms"), std::string::npos) << tied;
  // c = 0.5 of which layer1's skip gets 0.5 * 1.5 / 10.875 by the reference, but its k3_e1 is 0.25 below it
  const std::string below = fit_error("arch,ms\n\"skip,skip\",0.5\n\"k3_e1,skip\",3.5\n\"skip,k3_e1\",0.25\n");
  EXPECT_NE(below.find("fitted latency of ConvBlock_H4_W4_Cin4_Cout8"), std::string::npos) << below;
}

TEST_F(BadTimings, HandComputedFit) {
  // T = c + x0 [layer0 k3_e1] + x1 [layer1 k3_e1 over its skip]: c = 0.5, x0 = 1, x1 = 2.5
  const std::string path =
      write_csv("hand.csv", "arch,ms\n\"skip,skip\",0.5\n\"k3_e1,skip\",1.5\n\"skip,k3_e1\",3\n\"k3_e1,k3_e1\",4\n");
  ProfileFitOptions opt;
  opt.holdout = 0;
  const ProfileFit fit = fit_profile(space, read_timings_csv(path, space, "arch", "ms"), reference, opt);
  const HardwareProfile& p = fit.profile;
  EXPECT_EQ(fit.terms, 3);
  EXPECT_NEAR(fit.constant_ms, 0.5, 1e-12);
  // reference weights: stem 1, layer1 skip 1.5, head 8 + 0.25 + 0.125; sum 10.875
  EXPECT_NEAR(p.ms("ConvNorm_H4_W4_Cin1_Cout4_kernel3_stride1_group1"), 0.5 * 1 / 10.875, 1e-12);
  EXPECT_NEAR(p.ms("Skip_H4_W4_Cin4_Cout8_stride2"), 0.5 * 1.5 / 10.875, 1e-12);
  EXPECT_NEAR(p.ms("ConvNorm_H2_W2_Cin8_Cout16_kernel1_stride1_group1"), 0.5 * 8 / 10.875, 1e-12);
  EXPECT_NEAR(p.ms("FC_Cin16_Cout2"), 0.5 * 0.125 / 10.875, 1e-12);
  EXPECT_EQ(p.ms("Skip_H4_W4_Cin4_Cout4_stride1"), 0.0);
  EXPECT_NEAR(p.ms("ConvBlock_H4_W4_Cin4_Cout4_exp1_kernel3_stride1_group1"), 1.0, 1e-12);
  EXPECT_NEAR(p.ms("ConvBlock_H4_W4_Cin4_Cout8_exp1_kernel3_stride2_group1"), 2.5 + 0.5 * 1.5 / 10.875, 1e-12);
  EXPECT_NEAR(fit.train.r2, 1.0, 1e-12);
}

TEST_F(BadTimings, ReferenceMustPriceTheApportionedKeys) {
  HardwareProfile partial = test::random_profile(space, 1, 0.1, 1.0);
  HardwareProfile empty;
  empty.set_source("empty.json");
  empty.set("unrelated", 1.0);
  const std::string path = write_csv("ok.csv", "arch,ms\n\"skip,skip\",1\n\"k3_e1,skip\",2\n\"skip,k3_e1\",3\n");
  const auto rows = read_timings_csv(path, space, "arch", "ms");
  ProfileFitOptions opt;
  opt.holdout = 0;
  EXPECT_EQ(error_of([&] { fit_profile(space, rows, partial, opt); }), "");
  EXPECT_NE(error_of([&] { fit_profile(space, rows, empty, opt); }).find("empty.json has no latency for block key"),
            std::string::npos);
}

}  // namespace
}  // namespace nasc
