// An exclusive advisory lock on a file (flock), held for the object's lifetime. It lets several processes (the
// shards of one experiment, on one machine or on a shared filesystem that supports flock) share an output folder:
// whoever holds a run's lock computes it, the others wait and then read it back. The kernel drops the lock when
// its holder dies, so a crashed shard's run is taken over, never waited on forever.
#pragma once
#include <string>

namespace nasc {

class FileLock {
 public:
  explicit FileLock(const std::string& path);  // creates the file (and its folder); blocks until the lock is held
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace nasc
