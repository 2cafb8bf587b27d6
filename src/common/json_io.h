// Reading and writing result files: JSON parsed with a message naming the file, and atomic writes
// (temporary file + rename) so that an interrupted or failed run never leaves a half-written result.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace nasc {

using json = nlohmann::json;

json read_json_file(const std::string& path);
void write_text_atomic(const std::string& path, const std::string& text);
void write_json_atomic(const std::string& path, const json& j);
// A member that must be present, of any JSON type (json_get covers scalars and vectors only).
const json& json_member(const json& j, const char* name, const std::string& context);
// dir/name for a file that a result file names (its `field`): the name must be a plain file name, so that a file
// saying "../x" or "/etc/x" cannot make a loader read any file on the machine. Throws Error naming `source`.
std::string file_in_dir(const std::string& dir, const std::string& name, const char* field, const std::string& source);

// Typed field access with errors that name the file/context, the field and the expected type.
template <typename T>
T json_get(const json& j, const char* field, const std::string& context);
template <typename T>
T json_get_or(const json& j, const char* field, const T& fallback, const std::string& context);

}  // namespace nasc
