// The frame format and payload encodings: round trips, fp16/int8 accuracy, and one refusal per header check.
#include "deploy/protocol.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "common/error.h"

namespace nasc {
namespace {

std::vector<float> ramp(size_t n, float lo, float hi) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * float(i) / float(n - 1);
  return v;
}

Frame round_trip(const Frame& f) {
  std::vector<uint8_t> bytes = encode_frame(f);
  Frame out;
  size_t consumed = 0;
  FrameStatus st = decode_frame(bytes.data(), bytes.size(), FrameLimits{}, out, &consumed);
  EXPECT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(consumed, bytes.size());
  return out;
}

// A valid request frame as bytes, for corrupting one field at a time.
std::vector<uint8_t> sample_frame() {
  std::vector<float> v = ramp(2 * 3 * 4, -1.f, 2.f);
  return encode_frame(make_request(42, encode_floats(v, {2, 3, 4}, WireEncoding::Fp32), 0));
}

void put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
}

// Rewrites the header checksum so that a corrupted field reaches its own check.
void reseal(std::vector<uint8_t>& b) { put32(b, 60, uint32_t(crc32(crc32(0L, Z_NULL, 0), b.data(), 60))); }

ErrorCode decode_code(const std::vector<uint8_t>& b, uint32_t max_body = kDefaultMaxBody) {
  Frame f;
  return decode_frame(b.data(), b.size(), FrameLimits{max_body}, f).code;
}

TEST(Protocol, HeaderIsSixtyFourBytesLittleEndian) {
  std::vector<uint8_t> b = sample_frame();
  ASSERT_EQ(b.size(), kHeaderBytes + 2 * 3 * 4 * 4);
  EXPECT_EQ(std::memcmp(b.data(), "NASC", 4), 0);
  EXPECT_EQ(b[4], 2);  // version, low byte first
  EXPECT_EQ(b[5], 0);
  EXPECT_EQ(b[6], uint8_t(MsgType::Request));
  EXPECT_EQ(b[8], 42);  // request id
  EXPECT_EQ(b[16], uint8_t(WireEncoding::Fp32));
  EXPECT_EQ(b[17], 3);                 // ndim
  EXPECT_EQ(b[20], 2);                 // dims
  EXPECT_EQ(b[24], 3);
  EXPECT_EQ(b[28], 4);
  EXPECT_EQ(b[52], 96);                // body length
}

TEST(Protocol, Fp32RoundTripIsExact) {
  std::vector<float> v = ramp(60, -3.5f, 7.25f);
  v[3] = std::numeric_limits<float>::infinity();
  v[4] = -0.f;
  Frame out = round_trip(make_request(7, encode_floats(v, {3, 4, 5}, WireEncoding::Fp32), 0));
  EXPECT_EQ(out.type, MsgType::Request);
  EXPECT_EQ(out.request_id, 7u);
  EXPECT_EQ(out.tensor.shape, (std::vector<int64_t>{3, 4, 5}));
  std::vector<float> back = decode_floats(out.tensor);
  ASSERT_EQ(back.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(std::memcmp(&back[i], &v[i], 4), 0) << i;
}

TEST(Protocol, RequestsNameTheirSplitAndOldPeersAreRefusedByVersion) {
  Frame out = round_trip(make_request(9, encode_floats(ramp(8, 0, 1), {2, 2, 2}, WireEncoding::Fp32), 513));
  EXPECT_EQ(out.split, 513);
  std::vector<uint8_t> b = encode_frame(make_request(9, encode_floats(ramp(8, 0, 1), {8}, WireEncoding::Fp32), 3));
  EXPECT_EQ(b[18], 3);  // split, little-endian u16 at bytes 18-19
  EXPECT_EQ(b[4], 2);   // protocol version 2
  b[4] = 1;
  reseal(b);
  FrameHeader h;
  FrameStatus st = decode_header(b.data(), FrameLimits{}, h);
  EXPECT_EQ(st.code, ErrorCode::UnsupportedVersion);
  EXPECT_NE(st.message.find("protocol version 1 is not supported: expected version 2"), std::string::npos)
      << st.message;
  EXPECT_THROW(make_request(1, WireTensor{}, 65536), Error);
  EXPECT_THROW(make_request(1, WireTensor{}, -1), Error);
  Frame health = make_control(MsgType::Health, 1);
  health.split = 2;
  EXPECT_THROW(encode_frame(health), Error);
}

TEST(Protocol, Fp16RoundTripWithinHalfPrecision) {
  std::vector<float> v = ramp(64, -50.f, 50.f);
  Frame out = round_trip(make_request(1, encode_floats(v, {4, 4, 4}, WireEncoding::Fp16), 0));
  EXPECT_EQ(out.tensor.bytes.size(), 64u * 2);
  std::vector<float> back = decode_floats(out.tensor);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_LE(std::abs(back[i] - v[i]), std::abs(v[i]) * 0x1p-11f + 1e-7f) << i;
}

TEST(Protocol, Int8RoundTripErrorAtMostHalfAStep) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2.f, 5.f);
  std::vector<float> v(2 * 8 * 8);
  for (float& x : v) x = u(rng);
  v[0] = 0.f;
  Frame out = round_trip(make_request(2, encode_floats(v, {2, 8, 8}, WireEncoding::Int8), 0));
  const WireTensor& t = out.tensor;
  EXPECT_EQ(t.bytes.size(), v.size());
  ASSERT_GT(t.scale, 0.f);
  std::vector<float> back = decode_floats(t);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_LE(std::abs(back[i] - v[i]), t.scale * 0.5f * 1.0001f) << i;
  EXPECT_EQ(back[0], 0.f);  // zero stays exact
}

TEST(Protocol, Int8HandlesConstantAndOneSidedTensors) {
  for (auto v : {std::vector<float>(8, 0.f), std::vector<float>(8, 3.f), ramp(8, 0.5f, 6.f), ramp(8, -4.f, -1.f)}) {
    WireTensor t = encode_floats(v, {8}, WireEncoding::Int8);
    std::vector<float> back = decode_floats(t);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_LE(std::abs(back[i] - v[i]), t.scale * 0.5f * 1.0001f);
  }
  std::vector<float> bad = {1.f, std::nanf("")};
  EXPECT_THROW(encode_floats(bad, {2}, WireEncoding::Int8), Error);
}

TEST(Protocol, RawBytesRoundTrip) {
  std::vector<uint8_t> px(3 * 4 * 4);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 5);
  Frame out = round_trip(make_request(3, encode_raw(px, {3, 4, 4}), 0));
  EXPECT_EQ(out.tensor.bytes, px);
  EXPECT_EQ(decode_floats(out.tensor)[10], 50.f);
  EXPECT_THROW(encode_raw(px, {3, 4, 5}), Error);
}

TEST(Protocol, ResponseCarriesScoresAndComputeTime) {
  Frame out = round_trip(make_response(9, {0.1f, 0.7f, 0.2f}, 1234));
  EXPECT_EQ(out.type, MsgType::Response);
  EXPECT_EQ(out.compute_us, 1234u);
  EXPECT_EQ(decode_floats(out.tensor), (std::vector<float>{0.1f, 0.7f, 0.2f}));
  Frame err = round_trip(make_error(9, ErrorCode::WrongShape, "input [1] is not accepted"));
  EXPECT_EQ(ErrorCode(err.status), ErrorCode::WrongShape);
  EXPECT_EQ(decode_text(err.tensor), "input [1] is not accepted");
  Frame health = round_trip(make_control(MsgType::Health, 5));
  EXPECT_TRUE(health.tensor.shape.empty());
  EXPECT_TRUE(health.tensor.bytes.empty());
}

TEST(Protocol, HalfConversionIsExactOnEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (nan) {
      EXPECT_TRUE(std::isnan(half_to_float(uint16_t(h))));
      continue;
    }
    ASSERT_EQ(float_to_half(half_to_float(uint16_t(h))), h) << std::hex << h;
  }
  EXPECT_EQ(half_to_float(0x3c00), 1.f);
  EXPECT_EQ(half_to_float(0x0001), 0x1p-24f);  // smallest subnormal
  EXPECT_EQ(half_to_float(0x7bff), 65504.f);
}

TEST(Protocol, HalfRoundsToNearestEven) {
  EXPECT_EQ(float_to_half(1.f + 0x1p-11f), 0x3c00);         // tie -> even (down)
  EXPECT_EQ(float_to_half(1.f + 3 * 0x1p-11f), 0x3c02);     // tie -> even (up)
  EXPECT_EQ(float_to_half(1.f + 0x1p-11f + 0x1p-20f), 0x3c01);  // above the tie
  EXPECT_EQ(float_to_half(65519.f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.f), 0x7c00);                // overflows to infinity
  EXPECT_EQ(float_to_half(0x1p-25f), 0x0000);               // tie with 0 -> even
  EXPECT_EQ(float_to_half(0x1p-25f * 1.5f), 0x0001);
  EXPECT_EQ(float_to_half(-0x1p-14f), 0x8400);              // smallest normal
  EXPECT_EQ(float_to_half(0x1p-14f - 0x1p-26f), 0x0400);    // rounds up into the normals
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
}

TEST(Protocol, EveryHeaderCheckHasItsOwnError) {
  using E = ErrorCode;
  std::vector<uint8_t> ok = sample_frame();
  EXPECT_EQ(decode_code(ok), E::None);

  auto b = ok;
  b[0] = 'G';
  EXPECT_EQ(decode_code(b), E::BadMagic);
  b = ok;
  b[4] = 1;  // version 1 had no split field
  reseal(b);
  EXPECT_EQ(decode_code(b), E::UnsupportedVersion);
  b = ok;
  b[8] ^= 1;  // request id, crc not resealed
  EXPECT_EQ(decode_code(b), E::BadHeaderChecksum);
  b = ok;
  b[6] = 99;
  reseal(b);
  EXPECT_EQ(decode_code(b), E::UnknownType);
  b = ok;
  b[16] = 9;
  reseal(b);
  EXPECT_EQ(decode_code(b), E::UnknownEncoding);
  b = ok;
  b[18] = 7;  // a request may name any split
  reseal(b);
  EXPECT_EQ(decode_code(b), E::None);
  b = encode_frame(make_control(MsgType::Health, 5));
  b[18] = 1;  // but nothing else names one
  reseal(b);
  EXPECT_EQ(decode_code(b), E::BadField);
  b = ok;
  put32(b, 44, 3);  // status in a request
  reseal(b);
  EXPECT_EQ(decode_code(b), E::BadField);
  b = ok;
  b[17] = 5;
  reseal(b);
  EXPECT_EQ(decode_code(b), E::BadShape);
  b = ok;
  put32(b, 24, 0);  // a zero dimension
  reseal(b);
  EXPECT_EQ(decode_code(b), E::BadShape);
  b = ok;
  put32(b, 32, 7);  // a dimension beyond ndim
  reseal(b);
  EXPECT_EQ(decode_code(b), E::BadShape);
  b = ok;
  put32(b, 36, 0x3f800000);  // a scale on an fp32 payload
  reseal(b);
  EXPECT_EQ(decode_code(b), E::BadQuantisation);
  b = ok;
  put32(b, 52, 0xffffffffu);
  reseal(b);
  EXPECT_EQ(decode_code(b), E::TooLarge);
  EXPECT_EQ(decode_code(ok, 64), E::TooLarge);
  b = ok;
  put32(b, 52, 95);
  reseal(b);
  EXPECT_EQ(decode_code(b), E::LengthMismatch);
  b = ok;
  put32(b, 20, 0xffffffffu);  // huge shape: no overflow into a false match
  put32(b, 24, 0xffffffffu);
  put32(b, 28, 0xffffffffu);
  reseal(b);
  EXPECT_EQ(decode_code(b), E::LengthMismatch);
  b = ok;
  // [4, 2^31, 2^31, 1]: 2^64 elements, which a wrapping product would take for 0 and match an empty body.
  b[17] = 4;
  put32(b, 20, 4);
  put32(b, 24, 1u << 31);
  put32(b, 28, 1u << 31);
  put32(b, 32, 1);
  put32(b, 52, 0);
  b.resize(kHeaderBytes);
  reseal(b);
  EXPECT_EQ(decode_code(b), E::LengthMismatch);
  b = ok;
  b.back() ^= 0x40;
  EXPECT_EQ(decode_code(b), E::BadBodyChecksum);
  b = ok;
  b.pop_back();
  EXPECT_EQ(decode_code(b), E::Truncated);
  b.resize(10);
  EXPECT_EQ(decode_code(b), E::Truncated);
}

TEST(Protocol, Int8QuantisationFieldsAreChecked) {
  std::vector<uint8_t> ok = encode_frame(make_request(1, encode_floats(ramp(8, -1, 1), {8}, WireEncoding::Int8), 0));
  EXPECT_EQ(decode_code(ok), ErrorCode::None);
  auto b = ok;
  put32(b, 36, 0);  // scale 0
  reseal(b);
  EXPECT_EQ(decode_code(b), ErrorCode::BadQuantisation);
  b = ok;
  put32(b, 36, 0x7fc00000);  // NaN scale
  reseal(b);
  EXPECT_EQ(decode_code(b), ErrorCode::BadQuantisation);
  b = ok;
  put32(b, 40, 200);  // zero point out of range
  reseal(b);
  EXPECT_EQ(decode_code(b), ErrorCode::BadQuantisation);
}

TEST(Protocol, MessagesNameTheFieldAndTheExpectation) {
  std::vector<uint8_t> b = sample_frame();
  put32(b, 52, 1u << 30);
  reseal(b);
  Frame f;
  FrameStatus st = decode_frame(b.data(), b.size(), FrameLimits{1u << 20}, f);
  EXPECT_EQ(st.code, ErrorCode::TooLarge);
  EXPECT_NE(st.message.find("1073741824"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("1048576"), std::string::npos) << st.message;
  b = sample_frame();
  b[4] = 3;
  st = decode_frame(b.data(), b.size(), FrameLimits{}, f);
  EXPECT_NE(st.message.find("version 3"), std::string::npos) << st.message;
  EXPECT_EQ(st.message.find('\n'), std::string::npos);
}

TEST(Protocol, EncoderRefusesInconsistentTensors) {
  WireTensor t = encode_floats(ramp(8, 0, 1), {8}, WireEncoding::Fp32);
  t.bytes.pop_back();
  EXPECT_THROW(encode_frame(make_request(1, t, 0)), Error);
  EXPECT_THROW(encode_floats(ramp(8, 0, 1), {1, 2, 2, 2, 1}, WireEncoding::Fp32), Error);
  EXPECT_THROW(encode_floats(ramp(8, 0, 1), {3, 3}, WireEncoding::Fp16), Error);
  EXPECT_THROW(encode_floats(ramp(8, 0, 1), {8}, WireEncoding::Raw), Error);
  WireTensor bad = t;
  bad.shape = {int64_t(1) << 40, int64_t(1) << 40};
  EXPECT_THROW(decode_floats(bad), Error);  // refused before allocating
}

// Deterministic mutation fuzzing of the decoder (bench/frame_fuzz.cpp is the long-running and libFuzzer form).
TEST(Protocol, DecoderSurvivesMutatedFrames) {
  std::mt19937_64 rng(12345);
  std::vector<std::vector<uint8_t>> seeds = {
      sample_frame(),
      encode_frame(make_request(2, encode_floats(ramp(16, -1, 1), {4, 4}, WireEncoding::Int8), 0)),
      encode_frame(make_request(3, encode_floats(ramp(6, -1, 1), {1, 2, 3}, WireEncoding::Fp16), 0)),
      encode_frame(make_response(4, {1, 2, 3}, 77)),
      encode_frame(make_error(5, ErrorCode::WrongShape, "no")),
      encode_frame(make_control(MsgType::Health, 6)),
  };
  const FrameLimits limits{4096};
  std::array<int, kErrorCodeCount> seen{};
  const int iterations = 100000;
  for (int it = 0; it < iterations; ++it) {
    std::vector<uint8_t> b = seeds[rng() % seeds.size()];
    int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 6) {
        case 0: b[rng() % b.size()] ^= uint8_t(1u << (rng() % 8)); break;
        case 1: b[rng() % b.size()] = uint8_t(rng()); break;
        case 2: b.resize(rng() % (b.size() + 1)); if (b.empty()) b.push_back(0); break;
        case 3: b.push_back(uint8_t(rng())); break;
        case 4: if (b.size() >= 60) put32(b, 16 + 4 * (rng() % 10), rng() % 3 == 0 ? 0xffffffffu : uint32_t(rng() % 70)); break;
        case 5: break;
      }
    }
    if (b.size() >= kHeaderBytes && rng() % 2) reseal(b);  // half the time, reach the checks past the crc
    Frame f;
    size_t consumed = 0;
    FrameStatus st = decode_frame(b.data(), b.size(), limits, f, &consumed);
    ASSERT_LT(int(st.code), kErrorCodeCount);
    ++seen[int(st.code)];
    if (st.ok()) {
      ASSERT_LE(consumed, b.size());
      ASSERT_LE(f.tensor.bytes.size(), limits.max_body_bytes);
      ASSERT_NO_THROW(decode_floats(f.tensor));
      std::vector<uint8_t> again = encode_frame(f);
      ASSERT_TRUE(std::equal(again.begin(), again.end(), b.begin())) << "iteration " << it;
    } else {
      ASSERT_FALSE(st.message.empty());
    }
  }
  for (ErrorCode c : {ErrorCode::None, ErrorCode::BadMagic, ErrorCode::UnsupportedVersion,
                      ErrorCode::BadHeaderChecksum, ErrorCode::UnknownType, ErrorCode::UnknownEncoding,
                      ErrorCode::BadShape, ErrorCode::TooLarge, ErrorCode::LengthMismatch,
                      ErrorCode::BadBodyChecksum, ErrorCode::Truncated})
    EXPECT_GT(seen[int(c)], 0) << error_code_name(c);
}

}  // namespace
}  // namespace nasc
