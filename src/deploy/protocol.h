// Wire protocol between the device (`nasc client`, head) and the edge server (`nasc serve`, tail): one
// length-prefixed, checksummed frame per message, whose header is validated field by field before any allocation.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "space/space.h"

namespace nasc {

// Frame layout. Integers little-endian, floats IEEE-754 binary32 little-endian; header = 64 bytes.
//   off size field
//    0   4   magic        "NASC"
//    4   2   version      kProtocolVersion; any other version is answered with an UnsupportedVersion error frame
//                         (version 1 had no split field: bytes 18-19 were reserved)
//    6   2   type         MsgType
//    8   8   request_id   chosen by the client, echoed in the reply
//   16   1   encoding     WireEncoding of the body
//   17   1   ndim         0..4; 0 = no tensor and an empty body
//   18   2   split        Request: the split p the payload was cut at (blocks [0,p) ran on the device); 0 otherwise
//   20  16   dims[4]      u32; dims[i] >= 1 for i < ndim, 0 beyond
//   36   4   scale        f32; finite and > 0 for int8, 0 otherwise
//   40   4   zero_point   i32; in [-128, 127] for int8, 0 otherwise
//   44   4   status       ErrorCode in Error frames, 0 otherwise
//   48   4   compute_us   Response: the server's compute time for the request in microseconds; 0 otherwise
//   52   4   body_len     == numel * element size, and <= the receiver's bound
//   56   4   body_crc     zlib crc32 of the body
//   60   4   header_crc   zlib crc32 of bytes [0, 60)
//   64   body_len bytes of body
// Bodies: Request = the tensor at the split (ARCHITECTURE.md §2); Response = class scores, fp32, shape [classes];
// Error = a one-line UTF-8 message (raw, shape [len]); Health and Stats carry no body and their replies JSON text.
// A receiver checks, in order: magic, version, header_crc, type, encoding, reserved/unused fields, shape,
// quantisation, body_len against its bound, body_len against the shape; only then reads the body and checks body_crc.

constexpr char kFrameMagic[4] = {'N', 'A', 'S', 'C'};
constexpr uint16_t kProtocolVersion = 2;
constexpr size_t kHeaderBytes = 64;
constexpr int kMaxDims = 4;
constexpr uint32_t kDefaultMaxBody = 16u << 20;
constexpr size_t kMaxErrorText = 1024;

enum class MsgType : uint16_t {
  Request = 1,      // client -> server: tensor to run the tail on
  Response = 2,     // server -> client: class scores
  Error = 3,        // server -> client: status + message; the server closes after protocol errors
  Health = 4,       // client -> server
  HealthReply = 5,  // server -> client: JSON
  Stats = 6,        // client -> server
  StatsReply = 7,   // server -> client: JSON
};

enum class WireEncoding : uint8_t {
  Raw = 0,  // uint8 (the stored input at split 0; text bodies)
  Fp32 = 1,
  Fp16 = 2,
  Int8 = 3,  // per-tensor affine: value = scale * (q - zero_point)
};

// Why a frame was refused; also the status of Error frames and the key of the server's error counters.
enum class ErrorCode : uint32_t {
  None = 0,
  BadMagic = 1,
  UnsupportedVersion = 2,
  BadHeaderChecksum = 3,
  UnknownType = 4,
  UnknownEncoding = 5,
  BadField = 6,  // a reserved or unused field is not 0
  BadShape = 7,
  BadQuantisation = 8,
  TooLarge = 9,
  LengthMismatch = 10,
  BadBodyChecksum = 11,
  Truncated = 12,  // the peer closed or stalled in the middle of a frame
  UnexpectedType = 13,
  WrongShape = 14,  // well-formed, but not the input this server's tail takes
  HandlerFailed = 15,
  Overloaded = 16,
  ShuttingDown = 17,
  NonFinite = 18,  // well-formed, but the tensor holds NaN or Inf (or an int8 scale that decodes beyond float)
  TlsRequired = 19,  // a plaintext frame sent to a server that accepts TLS only (sent in clear, then closed)
  UnknownSplit = 20,  // a request names a split whose tail this server does not hold
};
constexpr int kErrorCodeCount = 21;
const char* error_code_name(ErrorCode c);  // "bad_magic"; "unknown" for values outside the enum
const char* msg_type_name(MsgType t);
const char* wire_encoding_name(WireEncoding e);  // raw|fp32|fp16|int8
int wire_element_bytes(WireEncoding e);

inline WireEncoding to_wire(Encoding e) {
  switch (e) {
    case Encoding::Raw: return WireEncoding::Raw;
    case Encoding::Fp32: return WireEncoding::Fp32;
    case Encoding::Fp16: return WireEncoding::Fp16;
    case Encoding::Int8: return WireEncoding::Int8;
  }
  return WireEncoding::Raw;
}
inline Encoding from_wire(WireEncoding e) {
  switch (e) {
    case WireEncoding::Raw: return Encoding::Raw;
    case WireEncoding::Fp32: return Encoding::Fp32;
    case WireEncoding::Fp16: return Encoding::Fp16;
    case WireEncoding::Int8: return Encoding::Int8;
  }
  return Encoding::Raw;
}

// The header with host-order values. Every field sits at its natural alignment, so the struct has the wire
// layout without packing; the asserts keep it so. Bytes go through encode_header/decode_header, never memcpy.
struct FrameHeader {
  char magic[4] = {'N', 'A', 'S', 'C'};
  uint16_t version = kProtocolVersion;
  uint16_t type = 0;
  uint64_t request_id = 0;
  uint8_t encoding = 0;
  uint8_t ndim = 0;
  uint16_t split = 0;
  uint32_t dims[kMaxDims] = {0, 0, 0, 0};
  float scale = 0.f;
  int32_t zero_point = 0;
  uint32_t status = 0;
  uint32_t compute_us = 0;
  uint32_t body_len = 0;
  uint32_t body_crc = 0;
  uint32_t header_crc = 0;
};
static_assert(sizeof(FrameHeader) == kHeaderBytes, "frame header must be 64 bytes");
static_assert(offsetof(FrameHeader, request_id) == 8 && offsetof(FrameHeader, encoding) == 16 &&
                  offsetof(FrameHeader, dims) == 20 && offsetof(FrameHeader, scale) == 36 &&
                  offsetof(FrameHeader, status) == 44 && offsetof(FrameHeader, body_len) == 52 &&
                  offsetof(FrameHeader, header_crc) == 60,
              "frame header fields must sit at their wire offsets");
static_assert(sizeof(float) == 4, "fp32 must be IEEE binary32");

// Outcome of a check: code None, or the reason with a one-line message naming the field and what was expected.
struct FrameStatus {
  ErrorCode code = ErrorCode::None;
  std::string message;
  bool ok() const { return code == ErrorCode::None; }
  static FrameStatus fail(ErrorCode c, std::string m) { return {c, std::move(m)}; }
};

struct FrameLimits {
  uint32_t max_body_bytes = kDefaultMaxBody;
};

// A tensor as it travels. An empty shape means no tensor (and no bytes).
struct WireTensor {
  WireEncoding encoding = WireEncoding::Raw;
  std::vector<int64_t> shape;
  float scale = 0.f;       // int8 only
  int32_t zero_point = 0;  // int8 only
  std::vector<uint8_t> bytes;

  int64_t numel() const;
};

struct Frame {
  MsgType type = MsgType::Request;
  uint64_t request_id = 0;
  uint16_t split = 0;  // requests only
  uint32_t status = 0;
  uint32_t compute_us = 0;
  WireTensor tensor;
};

// Header <-> bytes. encode_header fills header_crc; decode_header runs every check but the body checksum.
void encode_header(const FrameHeader& h, uint8_t out[kHeaderBytes]);
FrameStatus decode_header(const uint8_t in[kHeaderBytes], const FrameLimits& limits, FrameHeader& out);
FrameStatus check_body(const FrameHeader& h, const uint8_t* body, size_t size);

// Whole frames. encode_frame throws Error when the tensor is inconsistent (shape vs bytes, rank > 4, size > 4 GiB).
std::vector<uint8_t> encode_frame(const Frame& f);
// Decodes the frame at the start of data[0, size); Truncated when size is short of header + body_len.
FrameStatus decode_frame(const uint8_t* data, size_t size, const FrameLimits& limits, Frame& out,
                         size_t* consumed = nullptr);
// Rebuilds a frame from a header that passed decode_header and its body.
Frame frame_from(const FrameHeader& h, std::vector<uint8_t> body);

Frame make_request(uint64_t id, WireTensor payload, int split);  // throws Error for a split outside 0..65535
Frame make_response(uint64_t id, const std::vector<float>& scores, uint32_t compute_us);
Frame make_error(uint64_t id, ErrorCode code, const std::string& message);  // message cut to kMaxErrorText
Frame make_control(MsgType type, uint64_t id, const std::string& json_text = "");

// Payload encodings (ARCHITECTURE.md §2). Floats to fp32/fp16/int8; int8 picks scale/zero point from min/max (with 0 in
// range, so zeros stay exact), rounds to nearest and clamps; non-finite values are refused for int8.
WireTensor encode_floats(const float* values, size_t count, const std::vector<int64_t>& shape, WireEncoding enc);
WireTensor encode_floats(const std::vector<float>& values, const std::vector<int64_t>& shape, WireEncoding enc);
WireTensor encode_raw(std::vector<uint8_t> pixels, const std::vector<int64_t>& shape);
WireTensor encode_text(const std::string& text);
// Any encoding back to floats (raw bytes become 0..255). Throws Error when bytes and shape disagree.
std::vector<float> decode_floats(const WireTensor& t);
void decode_floats(const WireTensor& t, float* out);  // out holds t.numel() floats
std::string decode_text(const WireTensor& t);
// Empty when every value t decodes to is finite (raw pixels always are); else why not, naming the first bad value.
std::string non_finite_reason(const WireTensor& t);
std::string format_shape(const std::vector<int64_t>& shape);  // "[4,8,8]"

struct Int8Quant {
  float scale = 1.f;
  int32_t zero_point = 0;
};
Int8Quant choose_int8_quant(float min, float max);

// IEEE binary16 by hand (no torch here): round-to-nearest-even, overflow to infinity, subnormals kept.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace nasc
