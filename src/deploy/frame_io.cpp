#include "deploy/frame_io.h"

#include "common/error.h"

namespace nasc {

std::string FrameRead::reason(const char* stage, size_t expected) const {
  if (!arrived()) return cat(stage, " cut short (", io_result_name(io), " after ", got, " of ", expected, " bytes)");
  return status.message;
}

FrameRead read_header(Socket& s, const FrameLimits& limits, Deadline deadline, FrameHeader& out) {
  FrameRead r;
  uint8_t hdr[kHeaderBytes];
  r.io = s.recv_exact(hdr, kHeaderBytes, deadline, &r.got);
  if (r.arrived()) r.status = decode_header(hdr, limits, out);
  return r;
}

FrameRead read_body(Socket& s, const FrameHeader& h, Deadline deadline, std::vector<uint8_t>& body) {
  FrameRead r;
  body.assign(h.body_len, 0);
  r.io = s.recv_exact(body.data(), body.size(), deadline, &r.got);
  if (r.arrived()) r.status = check_body(h, body.data(), body.size());
  return r;
}

FrameRead read_frame(Socket& s, const FrameLimits& limits, Deadline deadline, Frame& out) {
  FrameHeader h;
  FrameRead r = read_header(s, limits, deadline, h);
  if (!r.ok()) return r;
  std::vector<uint8_t> body;
  r = read_body(s, h, deadline, body);
  if (r.ok()) out = frame_from(h, std::move(body));
  return r;
}

bool send_frame(Socket& s, const Frame& f, Deadline deadline) {
  std::vector<uint8_t> bytes = encode_frame(f);
  return s.send_all(bytes.data(), bytes.size(), deadline) == IoResult::Ok;
}

}  // namespace nasc
