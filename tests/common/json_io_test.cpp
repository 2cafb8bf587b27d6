#include "common/json_io.h"

#include <gtest/gtest.h>

#include "../data/data_test_util.h"
#include "common/error.h"

using namespace nasc;

using nasc::test::error_of;

// A field holds exactly its type: nlohmann alone would read true as 1, 2.7 as 2 and 2^40 as a wrapped int.
TEST(JsonGet, FieldsMustHoldExactlyTheirType) {
  const json j = {{"n", 3},       {"flag", true}, {"x", 2.5},          {"big", int64_t(1) << 40},
                  {"neg", -4},    {"s", "text"},  {"ints", {1, 2, 3}}, {"mixed", {1, 2.5}}};
  EXPECT_EQ(json_get<int>(j, "n", "f.json"), 3);
  EXPECT_EQ(json_get<int64_t>(j, "big", "f.json"), int64_t(1) << 40);
  EXPECT_EQ(json_get<double>(j, "n", "f.json"), 3.0);  // an integer is a number
  EXPECT_EQ(json_get<std::vector<int>>(j, "ints", "f.json"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(json_get<std::vector<double>>(j, "mixed", "f.json"), (std::vector<double>{1, 2.5}));
  EXPECT_EQ(json_get_or<int>(j, "absent", 9, "f.json"), 9);

  EXPECT_NE(error_of([&] { json_get<int>(j, "flag", "f.json"); }).find("f.json: field 'flag' holds true (boolean)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { json_get<int>(j, "x", "f.json"); }).find("expected a whole number"), std::string::npos);
  EXPECT_NE(error_of([&] { json_get<int>(j, "big", "f.json"); }).find("within 32 bits"), std::string::npos);
  EXPECT_NE(error_of([&] { json_get<bool>(j, "n", "f.json"); }).find("expected true or false"), std::string::npos);
  EXPECT_NE(error_of([&] { json_get<std::string>(j, "n", "f.json"); }).find("expected a string"), std::string::npos);
  EXPECT_NE(error_of([&] { json_get<std::vector<int>>(j, "mixed", "f.json"); }).find("an array of"),
            std::string::npos);
  EXPECT_NE(error_of([&] { json_get<int>(j, "absent", "f.json"); }).find("missing field 'absent'"), std::string::npos);
}

TEST(FileInDir, OnlyPlainFileNamesAreJoined) {
  EXPECT_EQ(file_in_dir("runs/a", "model.pt", "weights", "r.json"), "runs/a/model.pt");
  for (const char* bad : {"../model.pt", "/etc/passwd", "sub/model.pt", "..", ".", "", "a\\b"})
    EXPECT_NE(error_of([&] { file_in_dir("runs/a", bad, "weights", "r.json"); })
                  .find("r.json: weights '" + std::string(bad) + "' must be a file name inside runs/a"),
              std::string::npos)
        << bad;
}
