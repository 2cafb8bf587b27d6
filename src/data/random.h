// Portable, seeded randomness for data order and augmentation: the same seed gives the same numbers on every
// machine and standard library (std::shuffle and std::uniform_int_distribution are implementation-defined).
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace nasc {

// One SplitMix64 step: advances `state` and returns a well-mixed 64-bit value. Cheap to seed per sample,
// which makes per-sample augmentation a pure function of (seed, epoch, position).
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Derives an independent seed from two values, so (seed, epoch) pairs never collide by simple arithmetic.
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t s = a;
  s = splitmix64(s) ^ b;
  return splitmix64(s);
}

// FNV-1a of a string: a stable 64-bit hash (std::hash differs between standard libraries), for seeds and keys.
inline uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

struct SplitMix64 {
  uint64_t state;
  uint64_t operator()() { return splitmix64(state); }
};

// Uniform integer in [0, n) from a full-range 64-bit generator, without modulo bias (rejects the
// 2^64 mod n lowest values).
template <typename Gen>
uint64_t uniform_below(Gen& gen, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;
  uint64_t r;
  do r = gen();
  while (r < threshold);
  return r % n;
}

// Fisher-Yates shuffle with mt19937_64, identical everywhere.
template <typename T>
void fisher_yates(std::vector<T>& v, uint64_t seed) {
  std::mt19937_64 gen(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(gen, i)]);
}

}  // namespace nasc
