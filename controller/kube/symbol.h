#pragma once

// Symbol: an interned, immutable string that costs one pointer per use.
// Node names and namespaces repeat across tens of thousands of cached Pods;
// interning them keeps the Pod cache slim (see docs/performance.md).

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

namespace nodeguard::kube {

// Thread-safe. Interned strings live for the life of the process: the set of
// distinct node names and namespaces is small compared with the objects using them.
class Symbol {
 public:
  Symbol();  // The empty string.
  static Symbol Intern(std::string_view text);

  std::string_view view() const { return *text_; }
  const std::string& str() const { return *text_; }
  bool empty() const { return text_->empty(); }

  // Interned: equal text implies equal pointer.
  friend bool operator==(Symbol a, Symbol b) { return a.text_ == b.text_; }
  friend bool operator<(Symbol a, Symbol b) { return *a.text_ < *b.text_; }
  friend bool operator==(Symbol a, std::string_view b) { return *a.text_ == b; }

  const void* identity() const { return text_; }

  friend std::ostream& operator<<(std::ostream& out, Symbol s);  // The text.

 private:
  explicit Symbol(const std::string* text) : text_(text) {}
  const std::string* text_;
};

}  // namespace nodeguard::kube

template <>
struct std::hash<nodeguard::kube::Symbol> {
  size_t operator()(nodeguard::kube::Symbol s) const noexcept {
    return std::hash<const void*>()(s.identity());
  }
};
