// Frames over a socket: reading one in two stages (the header, then the body it declares), so that a server
// can judge a header before it allocates the body, and sending one. Shared by the server, the client and tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "deploy/protocol.h"
#include "deploy/socket.h"

namespace nasc {

// How one stage of a read ended: the bytes did not all arrive (io, with how many did), or they did and the
// decoder judged them (status).
struct FrameRead {
  IoResult io = IoResult::Ok;
  size_t got = 0;
  FrameStatus status;
  bool arrived() const { return io == IoResult::Ok; }
  bool ok() const { return arrived() && status.ok(); }
  // A one-line reason for a failed stage ("header cut short (timeout after 12 of 64 bytes)", or the decoder's).
  std::string reason(const char* stage, size_t expected) const;
};

// Reads and decodes a header (every check but the body checksum; limits bound the declared body).
FrameRead read_header(Socket& s, const FrameLimits& limits, Deadline deadline, FrameHeader& out);
// Reads the body h declares (h passed decode_header, so its length is bounded) and checks its checksum.
FrameRead read_body(Socket& s, const FrameHeader& h, Deadline deadline, std::vector<uint8_t>& body);
// Both stages; on success `out` holds the frame.
FrameRead read_frame(Socket& s, const FrameLimits& limits, Deadline deadline, Frame& out);

bool send_frame(Socket& s, const Frame& f, Deadline deadline);

}  // namespace nasc
