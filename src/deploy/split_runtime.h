// The two ends of an exported split at run time (ARCHITECTURE.md §5): the device runs the head on one image and encodes
// the payload; the server decodes a payload and runs the tail. Shared by `nasc serve`, `nasc client` and benches.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/json_io.h"
#include "data/image_set.h"
#include "deploy/client.h"
#include "deploy/protocol.h"
#include "deploy/server.h"
#include "deploy/split_model.h"

namespace nasc {

// What manifest.json (written by export_split) says about the split; the halves are loaded separately.
struct SplitManifest {
  json raw;
  int split = 0, num_blocks = 0, classes = 0;  // split: the default one
  std::vector<int64_t> payload_shape;  // [C, H, W] without the batch; empty when split == num_blocks
  std::string encoding;                // raw-uint8 (split 0), fp32, fp16, int8, or none (split == num_blocks)

  // Every split the export serves (ascending; exports of one split list just it), with its payload.
  struct Cut {
    int split = 0;
    std::vector<int64_t> payload_shape;
    std::string encoding;
    int64_t payload_bytes = 0;
  };
  std::vector<Cut> cuts;
  // Throws Error naming the splits held when `split` is not one of them.
  const Cut& cut(int split) const;
  std::vector<int> splits() const;

  bool device_only() const { return split == num_blocks; }
  // Throws Error naming DIR/manifest.json and the field when it is not an export's manifest.
  static SplitManifest load(const std::string& dir);
};

// The device side. One image in, the payload out (or the class scores when the whole network is the head).
class HeadRuntime {
 public:
  HeadRuntime(const std::string& dir, torch::Device device);

  struct Output {
    WireTensor payload;         // empty shape when the head computed the scores itself
    std::vector<float> scores;  // set only for a device-only split
  };
  // pixels: one image, uint8 channel-major [C, H, W]. enc overrides the manifest's float encoding (fp32, fp16,
  // int8) for interior splits; split 0 always sends the raw pixels. Cut at the manifest's default split, or at
  // `split`, one of the splits the export serves.
  Output run(const uint8_t* pixels, WireEncoding enc) const { return run(pixels, enc, manifest_.split); }
  Output run(const uint8_t* pixels, WireEncoding enc, int split) const;
  WireEncoding default_encoding() const;  // the manifest's encoding on the wire
  // The float encoding of the export's interior splits (fp32 when it has none): what a request cut anywhere
  // but at 0 (raw) and B (nothing sent) carries.
  WireEncoding interior_encoding() const;

  const SplitManifest& manifest() const { return manifest_; }
  const SplitModel& model() const { return head_; }

 private:
  SplitManifest manifest_;
  SplitModel head_;
};

// The server side: checks a payload against what the tail takes and returns its class scores.
class TailRuntime {
 public:
  TailRuntime(const std::string& dir, torch::Device device);

  // Split 0 takes raw pixels only (manifest encoding raw-uint8); other splits take the payload shape in fp32, fp16 or
  // int8.
  const InputSpec& input_spec() const { return spec_; }
  // Throws Error when the payload is not what input_spec() accepts. Safe to call from several threads.
  std::vector<float> run(const WireTensor& payload, int split) const;
  Handler handler() const;  // run() as the FrameServer's handler

  const SplitManifest& manifest() const { return manifest_; }
  const SplitModel& model() const { return tail_; }

 private:
  SplitManifest manifest_;
  SplitModel tail_;
  InputSpec spec_;
};

// Median, 95th percentile and mean of one latency component over the requests of a client run, in ms.
struct LatencyStats {
  double median = 0, p95 = 0, mean = 0;
  static LatencyStats of(std::vector<double> ms);
  json to_json() const;
};

// Measured on the device for each image (ARCHITECTURE.md §5): head compute + encoding, transfer (the round trip less
// the server's compute, so framing and the emulated link count as transfer), server compute, and the whole request.
struct SplitRunReport {
  int64_t images = 0, correct = 0;  // answered, and answered right
  int64_t requested = 0;            // images the run was asked for
  std::string stopped;              // why it ended before `requested` (a request failed); empty when complete
  int64_t payload_bytes = 0;  // per request, on the wire, header excluded
  std::string encoding;
  LatencyStats device, transfer, server, total;
  double wall_s = 0;
  double device_hold_ms = 0;    // each head held to this long (device emulation), 0 when not emulated
  int64_t device_overruns = 0;  // heads that took longer than device_hold_ms on this machine
  std::map<int, int64_t> per_split;  // requests cut at each split
  int64_t switches = 0;              // requests cut at another split than the one before
  std::vector<double> totals_ms;     // every answered request's total, in order
  double accuracy() const { return images ? double(correct) / double(images) : 0; }
  json per_split_json() const;
  bool complete() const { return stopped.empty(); }
  json to_json() const;
};

// Runs images [0, limit) of `images` through head -> wire -> server tail, one request at a time, as a device
// would. A device-only split never contacts the server. A request that fails after the client's retries ends the
// run: the report covers the images answered before it and `stopped` says which request failed and why.
// `progress` (may be null) is called after each image with (done, total, report so far).
// With device_hold_ms > 0 the device is emulated: each head computation is held until that many ms have passed
// since it began, so that this machine stands in for a slower device; one that takes longer is counted.
SplitRunReport run_split_client(const HeadRuntime& head, FrameClient& client, const ImageSet& images, int64_t limit,
                                WireEncoding encoding, double device_hold_ms = 0,
                                const std::function<void(int64_t, int64_t, const SplitRunReport&)>& progress = {});

// The same with the split chosen per request (a run that adapts to its link) and the emulated head time per split.
struct ClientRun {
  int64_t limit = -1;  // images from the start, -1 = all
  WireEncoding encoding = WireEncoding::Int8;
  std::function<int()> choose;  // the split of the next request, one the export serves; null: its default split
  // After each answered request: its split, payload bytes, the time its bytes were on the move (round trip less
  // the server's compute, so both transfers and delays) and the reply's bytes. Bytes 0 for a device-only request.
  std::function<void(int split, int64_t bytes, double moved_ms, int64_t reply_bytes)> observe;
  std::function<double(int split)> device_hold_ms;  // emulated device: each head held this long (null: not)
  std::function<void(int64_t, int64_t, const SplitRunReport&)> progress;
};
SplitRunReport run_split_client(const HeadRuntime& head, FrameClient& client, const ImageSet& images,
                                const ClientRun& run);

}  // namespace nasc
