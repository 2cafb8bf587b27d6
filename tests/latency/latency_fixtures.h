// Shared inputs of the latency tests: a two-layer, two-op space small enough to write its profiles by hand,
// and seeded synthetic profiles covering every key of a preset space.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "common/error.h"
#include "latency/profile.h"
#include "space/space.h"

namespace nasc::test {

// A file of the test's temporary directory holding `text`; returns its path.
inline std::string write_temp_file(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::path(testing::TempDir()) / ("nasc_latency_test_" + name)).string();
  std::ofstream(path) << text;
  return path;
}

// The message of the nasc::Error thrown by f, or "" when none is thrown.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// 1x4x4 input, stem 4 ch, layer0 4->4 (stride 1), layer1 4->8 (stride 2), head 16 ch, 2 classes; ops k3_e1, skip.
inline Space micro_space() {
  SpaceConfig c;
  c.name = "micro";
  c.in_channels = 1;
  c.in_height = 4;
  c.in_width = 4;
  c.num_classes = 2;
  c.stem_channels = 4;
  c.stages = {{1, 4, 1}, {1, 8, 2}};
  c.head_channels = 16;
  c.ops = {"k3_e1", "skip"};
  return Space(c);
}

inline json test_metadata(const std::string& device_class) {
  return {{"device_class", device_class}, {"description", "hand-written test table"}, {"processor", "none"},
          {"libtorch_version", "none"},   {"threads", 1},  {"batch_size", 1},
          {"repetitions", nullptr},       {"date", "2024-01-01"}, {"tool_version", "test"},
          {"notes", ""}};
}

// Powers of two keep every sum exact, so the hand-computed expectations compare with ==.
inline json micro_device_profile() {
  return {{"metadata", test_metadata("device")},
          {"latency_ms",
           {{"ConvNorm_H4_W4_Cin1_Cout4_kernel3_stride1_group1", 1.0},
            {"ConvBlock_H4_W4_Cin4_Cout4_exp1_kernel3_stride1_group1", 2.0},
            {"Skip_H4_W4_Cin4_Cout4_stride1", 0.5},
            {"ConvBlock_H4_W4_Cin4_Cout8_exp1_kernel3_stride2_group1", 4.0},
            {"Skip_H4_W4_Cin4_Cout8_stride2", 1.5},
            {"ConvNorm_H2_W2_Cin8_Cout16_kernel1_stride1_group1", 8.0},
            {"AvgP_H2_W2_Cin16_Cout16_kernel2_stride1", 0.25},
            {"FC_Cin16_Cout2", 0.125}}}};
}

inline json micro_server_profile() {
  return {{"metadata", test_metadata("server")},
          {"latency_ms",
           {{"ConvNorm_H4_W4_Cin1_Cout4_kernel3_stride1_group1", 0.125},
            {"ConvBlock_H4_W4_Cin4_Cout4_exp1_kernel3_stride1_group1", 0.25},
            {"Skip_H4_W4_Cin4_Cout4_stride1", 0.0625},
            {"ConvBlock_H4_W4_Cin4_Cout8_exp1_kernel3_stride2_group1", 0.5},
            {"Skip_H4_W4_Cin4_Cout8_stride2", 0.25},
            {"ConvNorm_H2_W2_Cin8_Cout16_kernel1_stride1_group1", 1.0},
            {"AvgP_H2_W2_Cin16_Cout16_kernel2_stride1", 0.03125},
            {"FC_Cin16_Cout2", 0.015625}}}};
}

// Every key of `space` with a latency drawn uniformly from [lo, hi) by a seeded generator.
inline HardwareProfile random_profile(const Space& space, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  HardwareProfile p;
  p.set_source(cat("random profile seed ", seed));
  for (auto& k : space_keys(space)) p.set(k, u(rng));
  return p;
}

}  // namespace nasc::test
