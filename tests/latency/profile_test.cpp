#include "latency/profile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.h"
#include "latency_fixtures.h"

namespace nasc {
namespace {

using test::error_of;

std::string write_file(const std::string& name, const std::string& text) { return test::write_temp_file(name, text); }

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / ("nasc_profile_test_" + name)).string();
}

TEST(HardwareProfile, LoadsLooksUpAndRoundTrips) {
  std::string path = write_file("ok.json", test::micro_device_profile().dump());
  HardwareProfile p = HardwareProfile::load(path);
  EXPECT_EQ(p.ms("FC_Cin16_Cout2"), 0.125);
  EXPECT_EQ(p.meta().device_class, "device");
  EXPECT_EQ(p.meta().threads, 1);
  EXPECT_FALSE(p.meta().repetitions.has_value());
  EXPECT_TRUE(p.missing_keys(test::micro_space()).empty());

  p.set("FC_Cin16_Cout2", 0.5, 0.01);
  std::string out = temp_path("roundtrip.json");
  p.save(out);
  HardwareProfile q = HardwareProfile::load(out);
  EXPECT_EQ(q.ms("FC_Cin16_Cout2"), 0.5);
  ASSERT_TRUE(q.entries().at("FC_Cin16_Cout2").spread_ms.has_value());
  EXPECT_EQ(*q.entries().at("FC_Cin16_Cout2").spread_ms, 0.01);
  EXPECT_EQ(q.entries().size(), p.entries().size());
}

TEST(HardwareProfile, MissingKeyIsAnErrorNamingKeyAndFile) {
  json j = test::micro_device_profile();
  j["latency_ms"].erase("Skip_H4_W4_Cin4_Cout8_stride2");
  std::string path = write_file("lacking.json", j.dump());
  HardwareProfile p = HardwareProfile::load(path);
  std::string lookup = error_of([&] { p.ms("Skip_H4_W4_Cin4_Cout8_stride2"); });
  EXPECT_NE(lookup.find("'Skip_H4_W4_Cin4_Cout8_stride2'"), std::string::npos) << lookup;
  EXPECT_NE(lookup.find(path), std::string::npos) << lookup;
  std::string req = error_of([&] { p.require(test::micro_space()); });
  EXPECT_NE(req.find("'Skip_H4_W4_Cin4_Cout8_stride2'"), std::string::npos) << req;
  EXPECT_NE(req.find(path), std::string::npos) << req;
  EXPECT_EQ(p.missing_keys(test::micro_space()), std::vector<std::string>{"Skip_H4_W4_Cin4_Cout8_stride2"});
}

TEST(HardwareProfile, MalformedFilesFailCleanly) {
  struct Case {
    std::string name, text, expect;  // `expect`: a fragment the one-line message must contain
  };
  json base = test::micro_device_profile();
  auto with = [&](auto edit) {
    json j = base;
    edit(j);
    return j.dump();
  };
  std::vector<Case> cases = {
      {"notjson", "{\"metadata\": ", "not valid JSON"},
      {"array", "[1, 2]", "expected a hardware profile"},
      {"nometa", with([](json& j) { j.erase("metadata"); }), "'metadata'"},
      {"nothreads", with([](json& j) { j["metadata"].erase("threads"); }), "'threads'"},
      {"nodate", with([](json& j) { j["metadata"].erase("date"); }), "'date'"},
      {"batch", with([](json& j) { j["metadata"]["batch_size"] = 8; }), "batch_size"},
      {"table", with([](json& j) { j["latency_ms"] = json::array(); }), "'latency_ms'"},
      {"empty", with([](json& j) { j["latency_ms"] = json::object(); }), "'latency_ms'"},
      {"string", with([](json& j) { j["latency_ms"]["FC_Cin16_Cout2"] = "fast"; }), "FC_Cin16_Cout2"},
      {"negative", with([](json& j) { j["latency_ms"]["FC_Cin16_Cout2"] = -1.0; }), "FC_Cin16_Cout2"},
      {"nan", with([](json& j) { j["latency_ms"]["FC_Cin16_Cout2"] = nullptr; }), "FC_Cin16_Cout2"},
      {"spread", with([](json& j) { j["spread_ms"] = {{"Unknown_key", 0.1}}; }), "Unknown_key"},
      {"format", with([](json& j) { j["format"] = "something-else"; }), "format"},
  };
  for (auto& c : cases) {
    std::string path = write_file(c.name + ".json", c.text);
    std::string msg = error_of([&] { HardwareProfile::load(path); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name << ": " << msg;
  }
  EXPECT_NE(error_of([] { HardwareProfile::load(temp_path("does-not-exist.json")); }).find("cannot open"),
            std::string::npos);
}

TEST(HardwareProfile, SpaceKeysCoverEveryBlockOnce) {
  Space s = test::micro_space();
  std::vector<std::string> keys = space_keys(s);
  EXPECT_EQ(keys.size(), 8u);  // stem + 2 layers x 2 ops + 3 head parts
  EXPECT_EQ(keys.front(), "ConvNorm_H4_W4_Cin1_Cout4_kernel3_stride1_group1");
  EXPECT_EQ(keys.back(), "FC_Cin16_Cout2");
  // hwnas-cifar: stages of 4 identical layers share keys; 1 stem + 3 head + distinct (layer, op) keys.
  Space cifar(SpaceConfig::preset("hwnas-cifar"));
  std::set<std::string> distinct;
  for (int b = 0; b < cifar.num_blocks(); ++b)
    for (int o = 0; o < cifar.num_ops(); ++o)
      for (auto& k : cifar.block_keys(b, o)) distinct.insert(k);
  EXPECT_EQ(space_keys(cifar).size(), distinct.size());
}

}  // namespace
}  // namespace nasc
