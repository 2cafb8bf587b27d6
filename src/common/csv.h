// Reading CSV tables that users bring (whole-network timings): a header row, then records; RFC 4180 quoting
// ("a,b" is one field, "" inside quotes is a quote). Errors name the file and the line.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace nasc {

struct CsvTable {
  std::string source;  // file name, for messages
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each as long as the header
  std::vector<int> lines;                      // 1-based line of the file where each row starts

  // Index of the column named `name`; throws naming the file and listing the columns when there is none.
  int column(const std::string& name) const;
};

// Throws on an unreadable file, an empty one, an unterminated quote, or a row whose field count differs from
// the header's. Blank lines are skipped; CRLF line ends are accepted.
CsvTable parse_csv(const std::string& text, const std::string& source);
CsvTable read_csv_file(const std::string& path);

// A field that is one finite number (leading and trailing blanks allowed), or nullopt: "12ms", "", "nan" and "1e999"
// are not numbers. Callers say what they expected in their own words.
std::optional<double> parse_number(const std::string& field);

}  // namespace nasc
