#pragma once

// Uid: an object's metadata.uid, in 24 bytes and no heap block.

#include <array>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

#include "kube/symbol.h"

namespace nodeguard::kube {

// The API server assigns every object an RFC 4122 UUID, 36 characters of
// text that as a std::string cost 32 bytes plus a 48-byte heap block per
// cached object; a Uid keeps such a UUID as its 16 bytes. Any other text
// (hand-written objects in tests, or a server that assigns uids otherwise) is
// interned instead, so every uid round-trips to exactly its text.
//
// A value type: cheap to copy, equal exactly when the texts are equal.
class Uid {
 public:
  Uid() = default;  // The empty uid: an object not yet created.
  // Implicit, as uids arrive as text from JSON, flags and tests alike.
  Uid(std::string_view text);  // NOLINT(google-explicit-constructor)
  Uid(const std::string& text) : Uid(std::string_view(text)) {}  // NOLINT
  Uid(const char* text) : Uid(std::string_view(text)) {}         // NOLINT

  std::string str() const;
  bool empty() const { return text_.empty() && bytes_ == std::array<uint8_t, 16>{}; }

  friend bool operator==(const Uid&, const Uid&) = default;

  size_t Hash() const;
  friend std::ostream& operator<<(std::ostream& out, const Uid& uid);  // The text.

 private:
  // A lowercase canonical UUID other than the nil UUID, when text_ is empty.
  // All zero (and text_ empty): the empty uid.
  std::array<uint8_t, 16> bytes_{};
  // Any uid text that is not such a UUID; empty otherwise.
  Symbol text_;
};

}  // namespace nodeguard::kube

template <>
struct std::hash<nodeguard::kube::Uid> {
  size_t operator()(const nodeguard::kube::Uid& uid) const noexcept { return uid.Hash(); }
};
