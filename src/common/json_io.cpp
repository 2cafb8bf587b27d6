#include "common/json_io.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "common/error.h"

namespace nasc {

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path, ": expected a readable JSON file");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write ", tmp, ": expected a writable directory");
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      fail("writing ", path, " failed (disk full?)");
    }
  }
  fs::rename(tmp, target);
}

void write_json_atomic(const std::string& path, const json& j) { write_text_atomic(path, j.dump(2) + "\n"); }

template <typename T>
T json_get(const json& j, const char* field, const std::string& context) {
  if (!j.is_object() || !j.contains(field)) fail(context, ": missing field '", field, "'");
  try {
    return j.at(field).get<T>();
  } catch (const json::exception&) {
    fail(context, ": field '", field, "' has the wrong type (", j.at(field).type_name(), ")");
  }
}

template <typename T>
T json_get_or(const json& j, const char* field, const T& fallback, const std::string& context) {
  if (!j.is_object() || !j.contains(field)) return fallback;
  return json_get<T>(j, field, context);
}

#define NASC_JSON_GET(T)                                                        \
  template T json_get<T>(const json&, const char*, const std::string&);        \
  template T json_get_or<T>(const json&, const char*, const T&, const std::string&);
NASC_JSON_GET(int)
NASC_JSON_GET(int64_t)
NASC_JSON_GET(double)
NASC_JSON_GET(bool)
NASC_JSON_GET(std::string)
NASC_JSON_GET(std::vector<int>)
NASC_JSON_GET(std::vector<double>)
NASC_JSON_GET(std::vector<std::string>)
#undef NASC_JSON_GET

}  // namespace nasc
