#include "common/csv.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace nasc {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_csv(text, "t.csv");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Csv, ReadsQuotedFieldsEscapedQuotesAndCrlf) {
  const CsvTable t = parse_csv("arch,ms\r\n\"a,b,c\",1.5\r\n\r\n\"say \"\"hi\"\"\",2\nplain,\n", "t.csv");
  ASSERT_EQ(t.header, (std::vector<std::string>{"arch", "ms"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"a,b,c", "1.5"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"say \"hi\"", "2"}));
  EXPECT_EQ(t.rows[2], (std::vector<std::string>{"plain", ""}));
  EXPECT_EQ(t.lines, (std::vector<int>{2, 4, 5}));  // the blank line 3 is skipped
  EXPECT_EQ(t.column("ms"), 1);
}

TEST(Csv, LastLineWithoutNewline) {
  const CsvTable t = parse_csv("a,b\n1,2", "t.csv");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][1], "2");
}

TEST(Csv, RejectsMalformedTablesNamingTheLine) {
  EXPECT_NE(error_of("a,b\n1,2\n1,2,3\n").find("t.csv:3: 3 fields, expected 2"), std::string::npos);
  EXPECT_NE(error_of("a,b\n\"1,2\n").find("t.csv:2: a quoted field is not closed"), std::string::npos);
  EXPECT_NE(error_of("").find("empty file"), std::string::npos);
  EXPECT_NE(error_of("\n\n").find("empty file"), std::string::npos);
  const CsvTable t = parse_csv("arch,x_ms\n", "t.csv");
  try {
    t.column("y_ms");
    FAIL() << "no error for a missing column";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no column 'y_ms' (columns: arch, x_ms)"), std::string::npos) << e.what();
  }
}

TEST(Csv, MissingFileIsAnError) {
  try {
    read_csv_file("/nonexistent/timings.csv");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/timings.csv"), std::string::npos);
  }
}

}  // namespace
}  // namespace nasc
