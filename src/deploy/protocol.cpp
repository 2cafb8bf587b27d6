#include "deploy/protocol.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"

namespace nasc {
namespace {

// Fp32 bodies are the host's floats byte for byte on little-endian machines, so they are copied whole there.
constexpr bool kLittleEndianHost = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

void put_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
void put_f32(uint8_t* p, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  put_u32(p, bits);
}
uint16_t get_u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t get_u32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint64_t get_u64(const uint8_t* p) { return uint64_t(get_u32(p)) | (uint64_t(get_u32(p + 4)) << 32); }
float get_f32(const uint8_t* p) {
  uint32_t bits = get_u32(p);
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

uint32_t crc(const uint8_t* data, size_t size) {
  uLong c = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; bodies are bounded by u32 but feed in slices anyway.
  while (size > 0) {
    uInt n = uInt(std::min<size_t>(size, 1u << 30));
    c = crc32(c, data, n);
    data += n;
    size -= n;
  }
  return uint32_t(c);
}

bool known_type(uint16_t t) { return t >= 1 && t <= 7; }
bool known_encoding(uint8_t e) { return e <= 3; }

std::string printable_magic(const uint8_t* p) {
  std::string s = "0x";
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    s += hex[p[i] >> 4];
    s += hex[p[i] & 15];
  }
  return s;
}

}  // namespace

const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::None: return "none";
    case ErrorCode::BadMagic: return "bad_magic";
    case ErrorCode::UnsupportedVersion: return "unsupported_version";
    case ErrorCode::BadHeaderChecksum: return "bad_header_checksum";
    case ErrorCode::UnknownType: return "unknown_type";
    case ErrorCode::UnknownEncoding: return "unknown_encoding";
    case ErrorCode::BadField: return "bad_field";
    case ErrorCode::BadShape: return "bad_shape";
    case ErrorCode::BadQuantisation: return "bad_quantisation";
    case ErrorCode::TooLarge: return "too_large";
    case ErrorCode::LengthMismatch: return "length_mismatch";
    case ErrorCode::BadBodyChecksum: return "bad_body_checksum";
    case ErrorCode::Truncated: return "truncated";
    case ErrorCode::UnexpectedType: return "unexpected_type";
    case ErrorCode::WrongShape: return "wrong_shape";
    case ErrorCode::HandlerFailed: return "handler_failed";
    case ErrorCode::Overloaded: return "overloaded";
    case ErrorCode::ShuttingDown: return "shutting_down";
    case ErrorCode::NonFinite: return "non_finite";
    case ErrorCode::TlsRequired: return "tls_required";
    case ErrorCode::UnknownSplit: return "unknown_split";
  }
  return "unknown";
}

const char* msg_type_name(MsgType t) {
  switch (t) {
    case MsgType::Request: return "request";
    case MsgType::Response: return "response";
    case MsgType::Error: return "error";
    case MsgType::Health: return "health";
    case MsgType::HealthReply: return "health_reply";
    case MsgType::Stats: return "stats";
    case MsgType::StatsReply: return "stats_reply";
  }
  return "unknown";
}

const char* wire_encoding_name(WireEncoding e) {
  switch (e) {
    case WireEncoding::Raw: return "raw";
    case WireEncoding::Fp32: return "fp32";
    case WireEncoding::Fp16: return "fp16";
    case WireEncoding::Int8: return "int8";
  }
  return "unknown";
}

int wire_element_bytes(WireEncoding e) {
  switch (e) {
    case WireEncoding::Raw: return 1;
    case WireEncoding::Fp32: return 4;
    case WireEncoding::Fp16: return 2;
    case WireEncoding::Int8: return 1;
  }
  return 1;
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t WireTensor::numel() const {
  if (shape.empty()) return 0;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 1 || n > (int64_t(1) << 40) / d) return -1;  // checked before multiplying, so it cannot overflow
    n *= d;
  }
  return n;
}

// ---- header ---------------------------------------------------------------------------------------------------

void encode_header(const FrameHeader& h, uint8_t out[kHeaderBytes]) {
  std::memcpy(out, h.magic, 4);
  put_u16(out + 4, h.version);
  put_u16(out + 6, h.type);
  put_u64(out + 8, h.request_id);
  out[16] = h.encoding;
  out[17] = h.ndim;
  put_u16(out + 18, h.split);
  for (int i = 0; i < kMaxDims; ++i) put_u32(out + 20 + 4 * i, h.dims[i]);
  put_f32(out + 36, h.scale);
  put_u32(out + 40, uint32_t(h.zero_point));
  put_u32(out + 44, h.status);
  put_u32(out + 48, h.compute_us);
  put_u32(out + 52, h.body_len);
  put_u32(out + 56, h.body_crc);
  put_u32(out + 60, crc(out, 60));
}

namespace {

// The tensor fields of a header, in wire order: rank and dims, the int8 parameters, the body length.
FrameStatus decode_shape(const uint8_t in[kHeaderBytes], FrameHeader& h) {
  using E = ErrorCode;
  if (h.ndim > kMaxDims)
    return FrameStatus::fail(E::BadShape, cat("tensor rank ", int(h.ndim), ": expected at most ", kMaxDims));
  for (int i = 0; i < kMaxDims; ++i) {
    h.dims[i] = get_u32(in + 20 + 4 * i);
    if (i < h.ndim && h.dims[i] == 0)
      return FrameStatus::fail(E::BadShape, cat("dimension ", i, " is 0: expected >= 1"));
    if (i >= h.ndim && h.dims[i] != 0)
      return FrameStatus::fail(E::BadShape, cat("unused dimension ", i, " holds ", h.dims[i], " for rank ",
                                                int(h.ndim), ": expected 0"));
  }
  return {};
}

FrameStatus decode_quantisation(const uint8_t in[kHeaderBytes], FrameHeader& h) {
  using E = ErrorCode;
  h.scale = get_f32(in + 36);
  h.zero_point = int32_t(get_u32(in + 40));
  auto enc = WireEncoding(h.encoding);
  if (enc == WireEncoding::Int8) {
    if (!(std::isfinite(h.scale) && h.scale > 0.f))
      return FrameStatus::fail(E::BadQuantisation, cat("int8 scale ", h.scale, ": expected finite and > 0"));
    if (h.zero_point < -128 || h.zero_point > 127)
      return FrameStatus::fail(E::BadQuantisation, cat("int8 zero point ", h.zero_point, ": expected -128..127"));
  } else if (get_u32(in + 36) != 0 || h.zero_point != 0) {  // bits, so that -0.0 is refused too
    return FrameStatus::fail(E::BadQuantisation, cat("scale/zero point set on a ", wire_encoding_name(enc),
                                                     " payload: expected 0 outside int8"));
  }
  return {};
}

FrameStatus decode_length(const uint8_t in[kHeaderBytes], const FrameLimits& limits, FrameHeader& h) {
  using E = ErrorCode;
  h.body_len = get_u32(in + 52);
  if (h.body_len > limits.max_body_bytes)
    return FrameStatus::fail(E::TooLarge, cat("declared body of ", h.body_len, " bytes exceeds the limit of ",
                                              limits.max_body_bytes, " bytes"));
  // Dims are >= 1, so the product only grows; it stops (checked before multiplying, so it never wraps) once it
  // passes any possible body length.
  constexpr uint64_t kPastAnyBody = uint64_t(1) << 33;
  uint64_t numel = h.ndim == 0 ? 0 : 1;
  for (int i = 0; i < h.ndim && numel <= kPastAnyBody; ++i)
    numel = numel > kPastAnyBody / h.dims[i] ? kPastAnyBody + 1 : numel * h.dims[i];
  const auto enc = WireEncoding(h.encoding);
  uint64_t expected = numel * uint64_t(wire_element_bytes(enc));
  if (expected != h.body_len) {
    std::vector<int64_t> shape(h.dims, h.dims + h.ndim);
    return FrameStatus::fail(E::LengthMismatch,
                             cat("body of ", h.body_len, " bytes does not match shape ", format_shape(shape), " ",
                                 wire_encoding_name(enc), ": expected ",
                                 numel > kPastAnyBody ? std::string("a smaller shape")
                                                      : std::to_string(expected) + " bytes"));
  }
  return {};
}

}  // namespace

FrameStatus decode_header(const uint8_t in[kHeaderBytes], const FrameLimits& limits, FrameHeader& h) {
  using E = ErrorCode;
  // A TLS record header (handshake type 22, version 3.x) is the one wrong start worth naming: a client set up for
  // TLS talking to a server that is not.
  if (in[0] == 0x16 && in[1] == 0x03)
    return FrameStatus::fail(E::BadMagic, "a TLS handshake, not a NASC frame: this end runs without TLS (--tls)");
  if (std::memcmp(in, kFrameMagic, 4) != 0)
    return FrameStatus::fail(E::BadMagic, cat("bad magic ", printable_magic(in), ": expected \"NASC\" (0x4e415343)"));
  h.version = get_u16(in + 4);
  if (h.version != kProtocolVersion)
    return FrameStatus::fail(E::UnsupportedVersion,
                             cat("protocol version ", h.version, " is not supported: expected version ",
                                 kProtocolVersion, " (device and server must run releases of the same protocol)"));
  h.header_crc = get_u32(in + 60);
  uint32_t actual = crc(in, 60);
  if (actual != h.header_crc)
    return FrameStatus::fail(E::BadHeaderChecksum, cat("header checksum mismatch: frame says ", h.header_crc,
                                                       ", header bytes give ", actual));
  h.type = get_u16(in + 6);
  if (!known_type(h.type))
    return FrameStatus::fail(E::UnknownType, cat("unknown message type ", h.type, ": expected 1..7"));
  h.request_id = get_u64(in + 8);
  h.encoding = in[16];
  if (!known_encoding(h.encoding))
    return FrameStatus::fail(E::UnknownEncoding,
                             cat("unknown payload encoding ", int(h.encoding), ": expected 0..3 (raw|fp32|fp16|int8)"));
  h.ndim = in[17];
  h.split = get_u16(in + 18);
  h.status = get_u32(in + 44);
  h.compute_us = get_u32(in + 48);
  auto type = MsgType(h.type);
  if (type != MsgType::Request && h.split != 0)
    return FrameStatus::fail(E::BadField, cat("split ", h.split, " in a ", msg_type_name(type),
                                              " frame: expected 0 outside request frames"));
  if (type != MsgType::Error && h.status != 0)
    return FrameStatus::fail(E::BadField, cat("status ", h.status, " in a ", msg_type_name(type),
                                              " frame: expected 0 outside error frames"));
  if (type != MsgType::Response && h.compute_us != 0)
    return FrameStatus::fail(E::BadField, cat("compute_us ", h.compute_us, " in a ", msg_type_name(type),
                                              " frame: expected 0 outside response frames"));
  for (auto step : {decode_shape, decode_quantisation})
    if (FrameStatus st = step(in, h); !st.ok()) return st;
  if (FrameStatus st = decode_length(in, limits, h); !st.ok()) return st;
  h.body_crc = get_u32(in + 56);
  std::memcpy(h.magic, in, 4);
  return {};
}

FrameStatus check_body(const FrameHeader& h, const uint8_t* body, size_t size) {
  if (size != h.body_len)
    return FrameStatus::fail(ErrorCode::Truncated, cat("body has ", size, " of ", h.body_len, " bytes"));
  uint32_t actual = crc(body, size);
  if (actual != h.body_crc)
    return FrameStatus::fail(ErrorCode::BadBodyChecksum, cat("body checksum mismatch: frame says ", h.body_crc,
                                                             ", ", size, " body bytes give ", actual));
  return {};
}

// ---- frames ---------------------------------------------------------------------------------------------------

std::vector<uint8_t> encode_frame(const Frame& f) {
  const WireTensor& t = f.tensor;
  if (t.shape.size() > size_t(kMaxDims))
    fail("tensor of rank ", t.shape.size(), " cannot be framed: expected at most ", kMaxDims, " dimensions");
  FrameHeader h;
  h.type = uint16_t(f.type);
  h.request_id = f.request_id;
  h.encoding = uint8_t(t.encoding);
  h.ndim = uint8_t(t.shape.size());
  uint64_t numel = t.shape.empty() ? 0 : 1;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] < 1 || t.shape[i] > int64_t(std::numeric_limits<uint32_t>::max()))
      fail("tensor shape ", format_shape(t.shape), " cannot be framed: expected dimensions in 1..2^32-1");
    h.dims[i] = uint32_t(t.shape[i]);
    if (numel > (uint64_t(1) << 33) / uint64_t(t.shape[i]))
      fail("tensor shape ", format_shape(t.shape), " is over 4 GiB");
    numel *= uint64_t(t.shape[i]);
  }
  uint64_t expected = numel * uint64_t(wire_element_bytes(t.encoding));
  if (expected != t.bytes.size())
    fail("tensor ", format_shape(t.shape), " ", wire_encoding_name(t.encoding), " holds ", t.bytes.size(),
         " bytes: expected ", expected);
  if (expected > std::numeric_limits<uint32_t>::max()) fail("tensor of ", expected, " bytes is over 4 GiB");
  if (t.encoding == WireEncoding::Int8) {
    if (!(std::isfinite(t.scale) && t.scale > 0.f) || t.zero_point < -128 || t.zero_point > 127)
      fail("int8 tensor with scale ", t.scale, " and zero point ", t.zero_point,
           " cannot be framed: expected a finite scale > 0 and a zero point in -128..127");
    h.scale = t.scale;
    h.zero_point = t.zero_point;
  }
  if (f.type != MsgType::Request && f.split != 0)
    fail(msg_type_name(f.type), " frame with split ", f.split, ": only requests name a split");
  h.split = f.split;
  h.status = f.status;
  h.compute_us = f.compute_us;
  h.body_len = uint32_t(t.bytes.size());
  h.body_crc = crc(t.bytes.data(), t.bytes.size());
  std::vector<uint8_t> out(kHeaderBytes + t.bytes.size());
  encode_header(h, out.data());
  if (!t.bytes.empty()) std::memcpy(out.data() + kHeaderBytes, t.bytes.data(), t.bytes.size());
  return out;
}

Frame frame_from(const FrameHeader& h, std::vector<uint8_t> body) {
  Frame f;
  f.type = MsgType(h.type);
  f.request_id = h.request_id;
  f.split = h.split;
  f.status = h.status;
  f.compute_us = h.compute_us;
  f.tensor.encoding = WireEncoding(h.encoding);
  f.tensor.shape.assign(h.dims, h.dims + h.ndim);
  f.tensor.scale = h.scale;
  f.tensor.zero_point = h.zero_point;
  f.tensor.bytes = std::move(body);
  return f;
}

FrameStatus decode_frame(const uint8_t* data, size_t size, const FrameLimits& limits, Frame& out,
                         size_t* consumed) {
  if (size < kHeaderBytes)
    return FrameStatus::fail(ErrorCode::Truncated, cat("frame of ", size, " bytes is shorter than its ",
                                                       kHeaderBytes, "-byte header"));
  FrameHeader h;
  FrameStatus s = decode_header(data, limits, h);
  if (!s.ok()) return s;
  if (size - kHeaderBytes < h.body_len)
    return FrameStatus::fail(ErrorCode::Truncated, cat("frame holds ", size - kHeaderBytes, " of its ",
                                                       h.body_len, " body bytes"));
  s = check_body(h, data + kHeaderBytes, h.body_len);
  if (!s.ok()) return s;
  out = frame_from(h, std::vector<uint8_t>(data + kHeaderBytes, data + kHeaderBytes + h.body_len));
  if (consumed) *consumed = kHeaderBytes + h.body_len;
  return {};
}

Frame make_request(uint64_t id, WireTensor payload, int split) {
  if (split < 0 || split > 65535) fail("request naming split ", split, ": expected 0..65535");
  Frame f;
  f.type = MsgType::Request;
  f.request_id = id;
  f.split = uint16_t(split);
  f.tensor = std::move(payload);
  return f;
}

Frame make_response(uint64_t id, const std::vector<float>& scores, uint32_t compute_us) {
  Frame f;
  f.type = MsgType::Response;
  f.request_id = id;
  f.compute_us = compute_us;
  f.tensor.encoding = WireEncoding::Fp32;
  if (!scores.empty()) f.tensor = encode_floats(scores, {int64_t(scores.size())}, WireEncoding::Fp32);
  return f;
}

Frame make_error(uint64_t id, ErrorCode code, const std::string& message) {
  Frame f;
  f.type = MsgType::Error;
  f.request_id = id;
  f.status = uint32_t(code);
  f.tensor = encode_text(message.substr(0, kMaxErrorText));
  return f;
}

Frame make_control(MsgType type, uint64_t id, const std::string& json_text) {
  Frame f;
  f.type = type;
  f.request_id = id;
  f.tensor = encode_text(json_text);
  return f;
}

// ---- payload encodings ----------------------------------------------------------------------------------------

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return uint16_t(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));  // inf, quiet NaN
  int32_t e = int32_t(exp) - 127 + 15;
  if (e >= 0x1f) return uint16_t(sign | 0x7c00u);  // overflow
  if (e <= 0) {
    // Half subnormal: value = m * 2^-24 with m = (1.mant) * 2^(e-1+24-24) = M >> (14 - e).
    if (e < -10) return uint16_t(sign);  // below half the smallest subnormal
    uint32_t M = mant | 0x800000u;
    int shift = 14 - e;
    uint32_t m = M >> shift;
    uint32_t rem = M & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (m & 1u))) ++m;  // may carry into the smallest normal, which is right
    return uint16_t(sign | m);
  }
  uint32_t h = sign | (uint32_t(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right, up to inf
  return uint16_t(h);
}

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      int e = 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --e;
      }
      x = sign | (uint32_t(e + 112) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

Int8Quant choose_int8_quant(float min, float max) {
  // Keep 0 in range so that zero activations (ReLU outputs) are exact.
  min = std::min(min, 0.f);
  max = std::max(max, 0.f);
  Int8Quant q;
  double range = double(max) - double(min);
  if (!(range > 0)) return q;  // all zeros
  // Round the scale up, so that the 256 levels span [min, max] and no value is more than half a step away.
  q.scale = float(range / 255.0);
  if (double(q.scale) * 255.0 < range) q.scale = std::nextafter(q.scale, std::numeric_limits<float>::infinity());
  if (!(q.scale > 0.f)) q.scale = std::numeric_limits<float>::min();
  double zp = std::nearbyint(-128.0 - double(min) / double(q.scale));
  q.zero_point = int32_t(std::clamp(zp, -128.0, 127.0));
  return q;
}

WireTensor encode_floats(const float* values, size_t count, const std::vector<int64_t>& shape, WireEncoding enc) {
  WireTensor t;
  t.encoding = enc;
  t.shape = shape;
  if (shape.size() > size_t(kMaxDims))
    fail("tensor of rank ", shape.size(), " cannot be sent: expected at most ", kMaxDims, " dimensions");
  for (int64_t d : shape)
    if (d < 1) fail("tensor shape ", format_shape(shape), " has a dimension < 1");
  if (t.numel() < 0 || uint64_t(t.numel()) != count)
    fail("tensor shape ", format_shape(shape), " needs ", t.numel(), " values: got ", count);
  switch (enc) {
    case WireEncoding::Fp32:
      t.bytes.resize(count * 4);
      if (kLittleEndianHost) {
        if (count) std::memcpy(t.bytes.data(), values, count * 4);
      } else {
        for (size_t i = 0; i < count; ++i) put_f32(t.bytes.data() + 4 * i, values[i]);
      }
      break;
    case WireEncoding::Fp16:
      t.bytes.resize(count * 2);
      for (size_t i = 0; i < count; ++i) put_u16(t.bytes.data() + 2 * i, float_to_half(values[i]));
      break;
    case WireEncoding::Int8: {
      float lo = 0.f, hi = 0.f;
      for (size_t i = 0; i < count; ++i) {
        if (!std::isfinite(values[i]))
          fail("value ", values[i], " at index ", i, " cannot be encoded as int8: expected finite values");
        lo = std::min(lo, values[i]);
        hi = std::max(hi, values[i]);
      }
      Int8Quant q = choose_int8_quant(lo, hi);
      t.scale = q.scale;
      t.zero_point = q.zero_point;
      t.bytes.resize(count);
      const double inv = 1.0 / double(q.scale);
      for (size_t i = 0; i < count; ++i) {
        // Adding and removing 1.5 * 2^52 rounds to nearest-even without a libm call; the clamp keeps |v| small.
        double v = std::clamp(double(values[i]) * inv, -1e9, 1e9);
        v = (v + 0x1.8p52) - 0x1.8p52 + q.zero_point;
        t.bytes[i] = uint8_t(int8_t(std::clamp(v, -128.0, 127.0)));
      }
      break;
    }
    case WireEncoding::Raw:
      fail("floats cannot be encoded as raw: expected fp32, fp16 or int8");
  }
  return t;
}

WireTensor encode_floats(const std::vector<float>& values, const std::vector<int64_t>& shape, WireEncoding enc) {
  return encode_floats(values.data(), values.size(), shape, enc);
}

WireTensor encode_raw(std::vector<uint8_t> pixels, const std::vector<int64_t>& shape) {
  WireTensor t;
  t.encoding = WireEncoding::Raw;
  t.shape = shape;
  if (t.numel() < 0 || uint64_t(t.numel()) != pixels.size())
    fail("raw input of ", pixels.size(), " bytes does not match shape ", format_shape(shape));
  t.bytes = std::move(pixels);
  return t;
}

WireTensor encode_text(const std::string& text) {
  WireTensor t;
  t.encoding = WireEncoding::Raw;
  if (!text.empty()) t.shape = {int64_t(text.size())};
  t.bytes.assign(text.begin(), text.end());
  return t;
}

// Element count of a tensor whose bytes match its shape; throws Error otherwise (before anything is allocated).
constexpr float kFloatMax = std::numeric_limits<float>::max();

static size_t checked_numel(const WireTensor& t) {
  int64_t n = t.numel();
  if (n < 0 || uint64_t(n) * uint64_t(wire_element_bytes(t.encoding)) != t.bytes.size())
    fail("tensor ", format_shape(t.shape), " ", wire_encoding_name(t.encoding), " holds ", t.bytes.size(),
         " bytes: expected numel * ", wire_element_bytes(t.encoding), " bytes with every dimension >= 1");
  return size_t(n);
}

void decode_floats(const WireTensor& t, float* out) {
  const size_t n = checked_numel(t);
  const uint8_t* b = t.bytes.data();
  switch (t.encoding) {
    case WireEncoding::Raw:
      for (size_t i = 0; i < n; ++i) out[i] = float(b[i]);
      break;
    case WireEncoding::Fp32:
      if (kLittleEndianHost) {
        if (n) std::memcpy(out, b, n * 4);
      } else {
        for (size_t i = 0; i < n; ++i) out[i] = get_f32(b + 4 * i);
      }
      break;
    case WireEncoding::Fp16:
      for (size_t i = 0; i < n; ++i) out[i] = half_to_float(get_u16(b + 2 * i));
      break;
    case WireEncoding::Int8:
      // The clamp only matters for tensors spanning nearly the whole float range, where the top level may lie
      // just past FLT_MAX; the encoder takes finite values only, so the nearest finite float is the answer.
      for (size_t i = 0; i < n; ++i)
        out[i] = std::clamp(t.scale * float(int32_t(int8_t(b[i])) - t.zero_point), -kFloatMax, kFloatMax);
      break;
  }
}

std::vector<float> decode_floats(const WireTensor& t) {
  std::vector<float> out(checked_numel(t));
  decode_floats(t, out.data());
  return out;
}

std::string non_finite_reason(const WireTensor& t) {
  const size_t n = checked_numel(t);
  const uint8_t* b = t.bytes.data();
  switch (t.encoding) {
    case WireEncoding::Raw: return "";
    case WireEncoding::Fp32:
      for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(get_f32(b + 4 * i))) return cat("fp32 value ", i, " is ", get_f32(b + 4 * i));
      return "";
    case WireEncoding::Fp16:
      // All exponent bits set: Inf or NaN.
      for (size_t i = 0; i < n; ++i)
        if ((get_u16(b + 2 * i) & 0x7C00u) == 0x7C00u) return cat("fp16 value ", i, " is Inf or NaN");
      return "";
    case WireEncoding::Int8: {
      // The decoded values reach scale x (255 + |zero point|) at most; that span must stay a finite float.
      const double span = double(std::abs(t.scale)) * (255.0 + std::abs(double(t.zero_point)));
      if (!std::isfinite(t.scale) || !(span < double(kFloatMax)))
        return cat("int8 scale ", t.scale, " with zero point ", t.zero_point, " decodes beyond the float range");
      return "";
    }
  }
  return "";
}

std::string decode_text(const WireTensor& t) { return std::string(t.bytes.begin(), t.bytes.end()); }

}  // namespace nasc
