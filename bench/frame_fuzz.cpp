// Fuzzing of the frame decoder and the payload codecs. Built by CMake as bench_frame_fuzz: a deterministic
// mutation loop over valid seed frames (--iterations, --seed, --seconds) that prints a histogram of the decoder's
// verdicts; `make test` runs it for a bounded time (CTest FrameFuzz.BoundedRun) and fails on any finding.
// As a libFuzzer target (coverage-guided, with AddressSanitizer and UBSan), from the repository root:
//   clang++ -std=c++17 -O1 -g -DNASC_LIBFUZZER -fsanitize=fuzzer,address,undefined -Isrc
//       bench/frame_fuzz.cpp src/deploy/protocol.cpp -lz -o /tmp/frame_fuzz
//   /tmp/frame_fuzz -max_total_time=60 -max_len=4096
#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "deploy/protocol.h"

namespace {

using namespace nasc;

[[noreturn]] void bug(const char* what) {
  std::fprintf(stderr, "frame_fuzz: %s\n", what);
  std::abort();
}

std::array<uint64_t, kErrorCodeCount> verdicts{};

// One input: as a frame for the decoder, and (when its length allows) as floats for the fp16/int8 codecs.
void run_one(const uint8_t* data, size_t size) {
  Frame f;
  size_t consumed = 0;
  const FrameLimits limits{1u << 20};
  FrameStatus st = decode_frame(data, size, limits, f, &consumed);
  if (int(st.code) >= kErrorCodeCount) bug("decoder returned an unknown error code");
  ++verdicts[size_t(st.code)];
  if (st.ok()) {
    if (consumed > size || f.tensor.bytes.size() > limits.max_body_bytes) bug("decoded past the input or bound");
    std::vector<float> v = decode_floats(f.tensor);  // must not throw on an accepted frame
    (void)v;
    std::vector<uint8_t> again = encode_frame(f);
    if (again.size() != consumed || std::memcmp(again.data(), data, consumed) != 0)
      bug("an accepted frame does not re-encode to the same bytes");
  } else if (st.message.empty()) {
    bug("a refusal without a message");
  }

  size_t n = std::min<size_t>(size / 4, 4096);
  if (n == 0) return;
  std::vector<float> values(n);
  std::memcpy(values.data(), data, n * 4);
  bool finite = true;
  for (float x : values) finite = finite && std::isfinite(x);
  WireTensor h = encode_floats(values, {int64_t(n)}, WireEncoding::Fp16);
  std::vector<float> back = decode_floats(h);
  for (size_t i = 0; i < n; ++i) {
    float x = values[i];
    if (std::isnan(x) != std::isnan(back[i])) bug("fp16 lost or invented a NaN");
    if (std::isfinite(x) && std::fabs(x) <= 65504.f && std::fabs(back[i] - x) > std::fabs(x) * 0x1p-11f + 0x1p-25f)
      bug("fp16 error above half an ulp");
  }
  if (finite) {
    WireTensor q = encode_floats(values, {int64_t(n)}, WireEncoding::Int8);
    std::vector<float> qb = decode_floats(q);
    for (size_t i = 0; i < n; ++i) {
      double err = std::fabs(double(qb[i]) - double(values[i]));
      if (err > double(q.scale) * 0.5 * (1 + 1e-5) + std::fabs(double(values[i])) * 1e-6 + 1e-30)
        bug("int8 error above half a quantisation step");
    }
  }
}

}  // namespace

#ifdef NASC_LIBFUZZER

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    run_one(data, size);
  } catch (const std::exception&) {
    bug("a codec threw on fuzzer input");
  }
  return 0;
}

#else

#include <CLI/CLI.hpp>
#include <chrono>
#include <random>

int main(int argc, char** argv) {
  uint64_t iterations = 1000000, seed = 1;
  double seconds = 0;
  CLI::App app{"Mutation fuzzing of the NASC frame decoder and payload codecs"};
  app.add_option("--iterations", iterations, "Mutated inputs to run")->capture_default_str();
  app.add_option("--seed", seed, "Random seed")->capture_default_str();
  app.add_option("--seconds", seconds, "Stop after this long even if iterations remain (0: no time bound)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto ramp = [](size_t n) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = -1.f + 3.f * float(i) / float(n);
    return v;
  };
  std::vector<std::vector<uint8_t>> seeds = {
      encode_frame(make_request(1, encode_floats(ramp(24), {2, 3, 4}, WireEncoding::Fp32), 0)),
      encode_frame(make_request(2, encode_floats(ramp(16), {4, 4}, WireEncoding::Int8), 0)),
      encode_frame(make_request(3, encode_floats(ramp(6), {1, 2, 3}, WireEncoding::Fp16), 0)),
      encode_frame(make_request(4, encode_raw(std::vector<uint8_t>(12, 9), {3, 2, 2}), 0)),
      encode_frame(make_response(5, {1, 2, 3}, 77)),
      encode_frame(make_error(6, ErrorCode::WrongShape, "no")),
      encode_frame(make_control(MsgType::Health, 7)),
  };
  std::mt19937_64 rng(seed);
  auto put32 = [](std::vector<uint8_t>& b, size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
  };
  auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  uint64_t done = 0;
  for (uint64_t it = 0; it < iterations; ++it, ++done) {
    if (seconds > 0 && it % 1024 == 0 && elapsed() > seconds) break;
    std::vector<uint8_t> b = seeds[rng() % seeds.size()];
    for (int e = 1 + int(rng() % 4); e > 0; --e) {
      switch (rng() % 5) {
        case 0: b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8)); break;
        case 1: b[rng() % b.size()] = uint8_t(rng()); break;
        case 2: b.resize(1 + rng() % b.size()); break;
        case 3: b.push_back(uint8_t(rng())); break;
        case 4:
          if (b.size() >= kHeaderBytes) put32(b, 16 + 4 * (rng() % 10), rng() % 3 ? uint32_t(rng() % 70) : ~0u);
          break;
      }
    }
    // Half the inputs get a correct header checksum, so that mutations reach the checks behind it.
    if (b.size() >= kHeaderBytes && rng() % 2) put32(b, 60, uint32_t(crc32(crc32(0L, Z_NULL, 0), b.data(), 60)));
    run_one(b.data(), b.size());
  }
  double s = elapsed();
  std::printf("frame_fuzz: %llu inputs in %.2f s (%.0f/s), no failures\n", (unsigned long long)done, s,
              double(done) / s);
  for (int c = 0; c < kErrorCodeCount; ++c)
    if (verdicts[c]) std::printf("  %-22s %llu\n", error_code_name(ErrorCode(c)), (unsigned long long)verdicts[c]);
  return 0;
}

#endif
