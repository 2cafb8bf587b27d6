// Cuts a trained network at split p into two deployable halves (ARCHITECTURE.md §5): out/head (blocks [0,p), the
// device) and out/tail (blocks [p,B), the server), each a self-describing folded model, plus out/manifest.json.
// An export may serve several splits: the head then holds the blocks up to the deepest, the tail those from the
// shallowest, and each request names the split it was cut at.
#pragma once
#include <string>

#include "common/json_io.h"
#include "data/normalizer.h"
#include "nn/network.h"
#include "space/space.h"

namespace nasc {

inline constexpr const char* kManifestFormat = "nasc-split/1";

// A trained network as a run directory holds it: a train run (result.json + its weights) or a search run whose
// search.json records a retrained network ("retrained": {"result": ...}).
struct TrainedRun {
  std::string result_path;   // the train result.json
  json result;               // its content
  json search;               // the search.json, null for a train run directory
  Network network{nullptr};  // weights loaded, eval mode, on the CPU
  Normalizer normalizer;

  int search_split() const;  // the search's split, -1 for a train run directory
  // Throws Error naming the file when DIR holds neither, or the files disagree (architecture, space).
  static TrainedRun load(const std::string& dir);
};

struct ExportOptions {
  int split = 0;                       // p in [0, B]: the default split
  std::vector<int> splits;             // every split the export serves, `split` among them (empty: just `split`)
  Encoding encoding = Encoding::Int8;  // payload encoding for 0 < p < B (raw at 0, nothing at B)
  json latency = nullptr;              // expected latency of this split, when profiles were given
  json source = nullptr;               // where the network came from, recorded as is
};

// Writes out_dir/{head,tail}/{model.json,weights.pt,model.onnx} (format in deploy/split_model.h) and
// out_dir/manifest.json, all into a temporary sibling renamed at the end. out_dir must not exist or be empty.
// Returns the manifest. The network is folded in eval mode; its own weights are not changed.
json export_split(const NetworkImpl& net, const Normalizer& normalizer, const ExportOptions& opt,
                  const std::string& out_dir);

}  // namespace nasc
