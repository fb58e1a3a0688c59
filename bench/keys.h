// keys.h — where each benchmark thread takes its keys from.
//
// Both contenders get the very same keys as the same `const std::string &`
// (sf_do reads key.data()/key.size(); the hand-written Group takes the
// string), so building the key costs both the same. Every key is at most 15
// bytes: it fits std::string's inline buffer and sf_do's inline key, so no
// key ever needs the heap on either side.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// A fresh key on every call: "u" + thread letter + 12 hex digits of a
// counter (14 bytes). No two calls, on any thread, share a key.
class UniqueKeys {
 public:
  explicit UniqueKeys(unsigned thread, std::uint64_t start = 0) : next_(start), key_(14, '0') {
    key_[0] = 'u';
    key_[1] = static_cast<char>('a' + thread);
  }
  const std::string &next() {
    static const char hex[] = "0123456789abcdef";
    std::uint64_t n = next_++;
    for (int i = 13; i >= 2; --i, n >>= 4) key_[i] = hex[n & 15];
    return key_;
  }
  std::uint64_t position() const { return next_; }

 private:
  std::uint64_t next_;
  std::string key_;
};

// The same small set of keys ("<prefix>00", "<prefix>01", ...) over and over,
// in a pseudo-random order of its own per thread (xorshift), so that threads
// sometimes meet on a key and sometimes not.
class RecurringKeys {
 public:
  RecurringKeys(const std::vector<std::string> &keys, std::uint64_t seed)
      : keys_(keys), state_(seed * 0x9e3779b97f4a7c15ull | 1) {}
  const std::string &next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return keys_[(state_ >> 32) % keys_.size()];
  }

 private:
  const std::vector<std::string> &keys_;
  std::uint64_t state_;
};

inline std::vector<std::string> key_set(const char *prefix, unsigned n) {
  std::vector<std::string> keys;
  for (unsigned i = 0; i < n; ++i) {
    char digits[3] = {static_cast<char>('0' + i / 10 % 10), static_cast<char>('0' + i % 10), 0};
    keys.push_back(std::string(prefix) + digits);
  }
  return keys;
}

}  // namespace bench
