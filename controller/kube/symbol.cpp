#include "kube/symbol.h"

#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <unordered_set>

namespace nodeguard::kube {
namespace {

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
};

struct InternTable {
  std::mutex mu;
  // Guarded by mu. Node-based, so element addresses are stable forever.
  std::unordered_set<std::string, TransparentHash, std::equal_to<>> strings;
};

InternTable& Table() {
  // Leaked deliberately: Symbols may be used during static destruction.
  static InternTable* table = [] {
    auto owned = std::make_unique<InternTable>();
    return owned.release();
  }();
  return *table;
}

const std::string* InternLocked(InternTable& t, std::string_view text) {
  auto it = t.strings.find(text);
  if (it == t.strings.end()) it = t.strings.emplace(text).first;
  return &*it;
}

}  // namespace

Symbol::Symbol() {
  static const std::string* empty = [] {
    InternTable& t = Table();
    std::lock_guard lock(t.mu);
    return InternLocked(t, "");
  }();
  text_ = empty;
}

Symbol Symbol::Intern(std::string_view text) {
  InternTable& t = Table();
  std::lock_guard lock(t.mu);
  return Symbol(InternLocked(t, text));
}

std::ostream& operator<<(std::ostream& out, Symbol s) { return out << s.view(); }

}  // namespace nodeguard::kube
