#include "common/json_io.h"

#include <cstdio>
#include <limits>
#include <type_traits>
#include <vector>
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

namespace {

// nlohmann converts booleans and floats to integers (true -> 1, 2.7 -> 2) and truncates large integers: a field
// must hold exactly its type, so that a typo'd file is refused instead of read as something else.
template <typename T>
bool holds_scalar(const json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else {
    if (!v.is_number_integer()) return false;
    if (v.is_number_unsigned()) return v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max());
    const int64_t x = v.get<int64_t>();
    return x >= int64_t(std::numeric_limits<T>::min()) && x <= int64_t(std::numeric_limits<T>::max());
  }
}

template <typename T>
const char* type_words() {
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else if constexpr (std::is_same_v<T, int>) return "a whole number within 32 bits";
  else return "a whole number";
}

template <typename T>
struct Holds {
  static bool check(const json& v) { return holds_scalar<T>(v); }
  static std::string words() { return type_words<T>(); }
};

template <typename E>
struct Holds<std::vector<E>> {
  static bool check(const json& v) {
    if (!v.is_array()) return false;
    for (auto& e : v)
      if (!holds_scalar<E>(e)) return false;
    return true;
  }
  static std::string words() { return std::string("an array of ") + type_words<E>() + " values"; }
};

}  // namespace

template <typename T>
T json_get(const json& j, const char* field, const std::string& context) {
  if (!j.is_object() || !j.contains(field)) fail(context, ": missing field '", field, "'");
  const json& v = j.at(field);
  if (!Holds<T>::check(v)) {
    std::string shown = v.dump();
    if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
    fail(context, ": field '", field, "' holds ", shown, " (", v.type_name(), "); expected ", Holds<T>::words());
  }
  return v.get<T>();
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

const json& json_member(const json& j, const char* name, const std::string& context) {
  if (!j.is_object() || !j.contains(name)) fail(context, ": missing field '", name, "'");
  return j[name];
}

std::string file_in_dir(const std::string& dir, const std::string& name, const char* field, const std::string& source) {
  if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name == "." ||
      name == "..")
    fail(source, ": ", field, " '", name, "' must be a file name inside ", dir);
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace nasc
