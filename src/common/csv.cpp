#include "common/csv.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace nasc {

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return int(i);
  std::string have;
  for (const auto& h : header) have += (have.empty() ? "" : ", ") + h;
  fail(source, ": no column '", name, "' (columns: ", have, ")");
}

// A single-pass state machine over characters (quotes, escapes, line ends); its states read best together.
CsvTable parse_csv(const std::string& text, const std::string& source) {
  CsvTable t;
  t.source = source;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, field_started = false;
  int line = 1, record_line = 1;
  auto end_record = [&] {
    record.push_back(field);
    field.clear();
    field_started = false;
    const bool blank = record.size() == 1 && record[0].empty();
    if (!blank) {
      if (t.header.empty()) {
        t.header = std::move(record);
      } else {
        if (record.size() != t.header.size())
          fail(source, ":", record_line, ": ", record.size(), " fields, expected ", t.header.size(),
               " (as many as the header)");
        t.rows.push_back(std::move(record));
        t.lines.push_back(record_line);
      }
    }
    record.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      record_line = ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) fail(source, ":", record_line, ": a quoted field is not closed (expected a closing '\"')");
  if (field_started || !record.empty()) end_record();
  if (t.header.empty()) fail(source, ": empty file, expected a CSV header row");
  return t;
}

CsvTable read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path, ": expected a readable CSV file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("cannot read ", path);
  return parse_csv(ss.str(), path);
}

std::optional<double> parse_number(const std::string& field) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(field, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (field.find_first_not_of(" \t\r", used) != std::string::npos || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace nasc
