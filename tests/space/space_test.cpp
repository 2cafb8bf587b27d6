#include <gtest/gtest.h>

#include "common/error.h"
#include "space/space.h"

using namespace nasc;

TEST(Space, HwnasCifarShapesFollowStageStrides) {
  Space s(SpaceConfig::preset("hwnas-cifar"));
  ASSERT_EQ(s.num_layers(), 22);
  ASSERT_EQ(s.num_blocks(), 24);
  // Spatial size at the output of each stage's last layer: 32,32,16,8,8,4,4.
  const int expected[7] = {32, 32, 16, 8, 8, 4, 4};
  const int channels[7] = {16, 24, 32, 64, 112, 184, 352};
  for (int l = 0; l < s.num_layers(); ++l) {
    const BlockGeom& g = s.layer(l);
    EXPECT_EQ(g.out.h, expected[g.stage]) << "layer " << l;
    EXPECT_EQ(g.out.w, expected[g.stage]) << "layer " << l;
    EXPECT_EQ(g.out.c, channels[g.stage]) << "layer " << l;
  }
  EXPECT_EQ(s.block(0).out, (Shape{16, 32, 32}));
  EXPECT_EQ(s.boundary_shape(0), (Shape{3, 32, 32}));
  EXPECT_EQ(s.boundary_shape(s.num_blocks()), (Shape{100, 1, 1}));
}

TEST(Space, HwnasCifarKeys) {
  Space s(SpaceConfig::preset("hwnas-cifar"));
  EXPECT_EQ(s.block_keys(0, 0), std::vector<std::string>{"ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1"});
  // Layer 1 is the first layer of stage 2: 16 -> 24 channels, stride 1, at 32x32.
  EXPECT_EQ(s.layer_key(1, s.op_index("k3_e6")), "ConvBlock_H32_W32_Cin16_Cout24_exp6_kernel3_stride1_group1");
  EXPECT_EQ(s.layer_key(1, s.op_index("k5_e1_g2")), "ConvBlock_H32_W32_Cin16_Cout24_exp1_kernel5_stride1_group2");
  EXPECT_EQ(s.layer_key(1, s.op_index("skip")), "Skip_H32_W32_Cin16_Cout24_stride1");
  // Layer 5 starts stage 3 (stride 2).
  EXPECT_EQ(s.layer_key(5, s.op_index("k3_e3")), "ConvBlock_H32_W32_Cin24_Cout32_exp3_kernel3_stride2_group1");
  std::vector<std::string> head = {"ConvNorm_H4_W4_Cin352_Cout1504_kernel1_stride1_group1",
                                   "AvgP_H4_W4_Cin1504_Cout1504_kernel4_stride1", "FC_Cin1504_Cout100"};
  EXPECT_EQ(s.block_keys(s.num_blocks() - 1, 0), head);
}

TEST(Space, ImagenetGeometry) {
  Space s(SpaceConfig::preset("hwnas-imagenet"));
  EXPECT_EQ(s.block(0).out, (Shape{16, 112, 112}));
  EXPECT_EQ(s.boundary_shape(s.num_blocks() - 1), (Shape{352, 7, 7}));
}

TEST(Space, PayloadBytesPerEncoding) {
  Space s(SpaceConfig::preset("hwnas-cifar"));
  const int B = s.num_blocks();
  EXPECT_EQ(s.payload_bytes(0, Encoding::Int8), 3 * 32 * 32);  // raw uint8 regardless of encoding
  EXPECT_EQ(s.payload_bytes(0, Encoding::Fp32), 3 * 32 * 32);
  EXPECT_EQ(s.payload_bytes(1, Encoding::Fp32), 16 * 32 * 32 * 4);
  EXPECT_EQ(s.payload_bytes(1, Encoding::Fp16), 16 * 32 * 32 * 2);
  EXPECT_EQ(s.payload_bytes(1, Encoding::Int8), 16 * 32 * 32);
  EXPECT_EQ(s.payload_bytes(B - 1, Encoding::Int8), 352 * 4 * 4);
  EXPECT_EQ(s.payload_bytes(B, Encoding::Fp32), 0);
  EXPECT_THROW(s.payload_bytes(B + 1, Encoding::Fp32), Error);
}

TEST(Space, ArchTextRoundTrip) {
  Space s(SpaceConfig::preset("tiny"));
  std::string text = "k3_e1,k3_e1_g2,k3_e3,k3_e6,k5_e1,k5_e6,skip";
  Arch a = s.parse_arch(text);
  EXPECT_EQ(a, (Arch{0, 1, 2, 3, 4, 7, 8}));
  EXPECT_EQ(s.format_arch(a), text);
  EXPECT_EQ(s.parse_arch(" k3_e1 , k3_e1_g2,k3_e3,k3_e6,k5_e1,k5_e6,skip"), a);
}

static std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Space, ArchErrorsNameTheProblem) {
  Space s(SpaceConfig::preset("tiny"));
  EXPECT_NE(error_of([&] { s.parse_arch("k3_e1,k3_e1"); }).find("has 2 ops, expected 7"), std::string::npos);
  std::string e = error_of([&] { s.parse_arch("k3_e1,k3_e1,k7_e6,k3_e1,k3_e1,k3_e1,skip"); });
  EXPECT_NE(e.find("unknown op 'k7_e6' at position 2"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { s.parse_arch(""); }).find("has 1 ops, expected 7"), std::string::npos);
}

TEST(Space, JsonRoundTripAndValidation) {
  SpaceConfig c = SpaceConfig::preset("fmnist");
  SpaceConfig d = SpaceConfig::from_json(c.to_json(), "test");
  EXPECT_EQ(c.to_json(), d.to_json());
  json bad = c.to_json();
  bad["stages"][0]["channels"] = -3;
  EXPECT_NE(error_of([&] { SpaceConfig::from_json(bad, "bad.json"); }).find("bad.json"), std::string::npos);
  bad = c.to_json();
  bad.erase("head_channels");
  EXPECT_NE(error_of([&] { SpaceConfig::from_json(bad, "x"); }).find("missing field 'head_channels'"),
            std::string::npos);
  EXPECT_THROW(SpaceConfig::preset("nope"), Error);
  EXPECT_THROW(OpSpec::parse("k4_e6"), Error);
}
