#pragma once

// Store<T>: the in-memory cache an Informer keeps of one resource, keyed by
// namespace/name, with secondary indexes (pods by spec.nodeName, by
// namespace). Objects are immutable once stored and shared by pointer, so a
// reader keeps a consistent snapshot of an object without copying it while
// the informer moves on.
//
// Memory per object (x86-64, libstdc++): the object itself in one
// allocation with its shared_ptr control block (sizeof(T) + 16 bytes), one
// 40-byte hash node (48 with malloc overhead) holding the pointer and the
// object's position in each index, 8 bytes of hash bucket, and 8 bytes per
// index the object appears in. No key string is stored: the key is read from
// the object's own metadata. See docs/performance.md for measurements.

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/result.h"
#include "kube/objects.h"

namespace nodeguard::kube {

// client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" for
// cluster-scoped objects. Workqueues carry these keys.
std::string ObjectKey(std::string_view namespace_, std::string_view name);
inline std::string ObjectKey(const ObjectMeta& meta) {
  return ObjectKey(meta.namespace_.view(), meta.name);
}
// The inverse: {namespace, name}; namespace is empty for "name".
std::pair<std::string_view, std::string_view> SplitObjectKey(std::string_view key);

// Standard index names and functions.
inline constexpr std::string_view kIndexNamespace = "namespace";
inline constexpr std::string_view kIndexNodeName = "spec.nodeName";

enum class DeltaType : uint8_t { kAdded, kUpdated, kDeleted };

// Thread-safe: reads take a shared lock, writes an exclusive one.
template <typename T>
class Store {
 public:
  using ObjectPtr = std::shared_ptr<const T>;
  // Maps an object to the one index value it is filed under ("" = not
  // indexed). The view must point into the object (or be static).
  using IndexFunc = std::function<std::string_view(const T&)>;
  static constexpr size_t kMaxIndexes = 4;

  // A change Replace made: kAdded and kUpdated carry the new object in
  // `object` (and kUpdated the previous one in `old_object`); kDeleted
  // carries the last known state in `object`.
  struct Delta {
    DeltaType type;
    ObjectPtr old_object;
    ObjectPtr object;
  };

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // REQUIRES: the store is empty (indexes are registered before the informer
  // runs). Fails for a duplicate name or more than kMaxIndexes indexes.
  Status AddIndex(std::string name, IndexFunc fn);

  // Inserts `object`, or replaces the one with its key; returns the previous
  // object (null when it was new).
  ObjectPtr Upsert(ObjectPtr object);
  ObjectPtr Upsert(T object) { return Upsert(std::make_shared<const T>(std::move(object))); }
  // Removes the object; returns it (null when absent).
  ObjectPtr Erase(std::string_view namespace_, std::string_view name);

  // Makes the store hold exactly `objects` (a relist) and returns what
  // changed. An object whose resourceVersion is unchanged keeps its stored
  // instance and yields no delta. Sets resource_version().
  // REQUIRES: no object is null.
  std::vector<Delta> Replace(std::vector<ObjectPtr> objects, std::string resource_version);
  std::vector<Delta> Replace(std::vector<T> objects, std::string resource_version);

  ObjectPtr Get(std::string_view namespace_, std::string_view name) const;
  ObjectPtr GetByKey(std::string_view key) const;
  std::vector<ObjectPtr> List() const;
  // Objects filed under `value` in the named index; empty for an unknown index.
  std::vector<ObjectPtr> ByIndex(std::string_view index, std::string_view value) const;
  size_t CountByIndex(std::string_view index, std::string_view value) const;
  // The distinct values of an index (e.g. every node that has pods).
  std::vector<std::string> IndexValues(std::string_view index) const;
  size_t size() const;

  // The resourceVersion the store reflects: the list's, then each applied
  // event's or bookmark's. The informer resumes watches from it.
  std::string resource_version() const;
  void set_resource_version(std::string resource_version);

 private:
  static constexpr uint32_t kNotIndexed = std::numeric_limits<uint32_t>::max();

  struct KeyRef {
    std::string_view namespace_;
    std::string_view name;
    bool operator==(const KeyRef&) const = default;
  };
  // One stored object. Its key lives in the object; its slot in each index
  // bucket is recorded so removal is O(1).
  struct Entry {
    mutable ObjectPtr object;
    mutable std::array<uint32_t, kMaxIndexes> position;
    KeyRef key() const { return {object->meta.namespace_.view(), object->meta.name}; }
  };
  struct EntryHash {
    using is_transparent = void;
    size_t operator()(const KeyRef& k) const noexcept {
      size_t h = std::hash<std::string_view>()(k.name);
      return h ^ (std::hash<std::string_view>()(k.namespace_) + 0x9e3779b97f4a7c15ULL + (h << 6) +
                  (h >> 2));
    }
    size_t operator()(const Entry& e) const noexcept { return (*this)(e.key()); }
  };
  struct EntryEq {
    using is_transparent = void;
    bool operator()(const Entry& a, const Entry& b) const { return a.key() == b.key(); }
    bool operator()(const KeyRef& a, const Entry& b) const { return a == b.key(); }
    bool operator()(const Entry& a, const KeyRef& b) const { return a.key() == b; }
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>()(s);
    }
  };
  using Bucket = std::vector<const Entry*>;
  struct Index {
    std::string name;
    IndexFunc fn;
    std::unordered_map<std::string, Bucket, StringHash, std::equal_to<>> buckets;
  };

  // REQUIRES: mu_ held exclusively.
  void IndexAdd(size_t i, const Entry& entry, std::string_view value);
  void IndexRemove(size_t i, const Entry& entry, std::string_view value);
  ObjectPtr UpsertLocked(ObjectPtr object);
  ObjectPtr EraseLocked(KeyRef key);
  const Index* FindIndex(std::string_view name) const;

  mutable std::shared_mutex mu_;
  std::unordered_set<Entry, EntryHash, EntryEq> entries_;  // Guarded by mu_.
  std::vector<Index> indexes_;                             // Guarded by mu_.
  std::string resource_version_;                           // Guarded by mu_.
};

// Files pods under kIndexNamespace and kIndexNodeName.
Status AddPodIndexes(Store<Pod>& store);

// ---------------------------------------------------------------- implementation

template <typename T>
Status Store<T>::AddIndex(std::string name, IndexFunc fn) {
  std::unique_lock lock(mu_);
  if (!entries_.empty()) return Error::Internal("Store::AddIndex after objects were added");
  if (indexes_.size() == kMaxIndexes) return Error::Internal("Store: too many indexes");
  for (const Index& index : indexes_) {
    if (index.name == name) return Error::Internal("Store: duplicate index " + name);
  }
  indexes_.push_back(Index{std::move(name), std::move(fn), {}});
  return Status::Ok();
}

template <typename T>
void Store<T>::IndexAdd(size_t i, const Entry& entry, std::string_view value) {
  if (value.empty()) {
    entry.position[i] = kNotIndexed;
    return;
  }
  auto& buckets = indexes_[i].buckets;
  auto it = buckets.find(value);
  if (it == buckets.end()) it = buckets.emplace(std::string(value), Bucket()).first;
  entry.position[i] = static_cast<uint32_t>(it->second.size());
  it->second.push_back(&entry);
}

template <typename T>
void Store<T>::IndexRemove(size_t i, const Entry& entry, std::string_view value) {
  uint32_t pos = entry.position[i];
  if (pos == kNotIndexed) return;
  auto& buckets = indexes_[i].buckets;
  auto it = buckets.find(value);
  if (it == buckets.end()) return;  // Unreachable while index functions are pure.
  Bucket& bucket = it->second;
  const Entry* last = bucket.back();
  bucket[pos] = last;
  last->position[i] = pos;
  bucket.pop_back();
  if (bucket.empty()) buckets.erase(it);
  entry.position[i] = kNotIndexed;
}

template <typename T>
typename Store<T>::ObjectPtr Store<T>::UpsertLocked(ObjectPtr object) {
  KeyRef key{object->meta.namespace_.view(), object->meta.name};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    Entry entry{std::move(object), {}};
    entry.position.fill(kNotIndexed);
    it = entries_.insert(std::move(entry)).first;
    for (size_t i = 0; i < indexes_.size(); ++i) IndexAdd(i, *it, indexes_[i].fn(*it->object));
    return nullptr;
  }
  ObjectPtr old = it->object;
  for (size_t i = 0; i < indexes_.size(); ++i) {
    std::string_view before = indexes_[i].fn(*old);
    std::string_view after = indexes_[i].fn(*object);
    if (before != after) {
      IndexRemove(i, *it, before);
      IndexAdd(i, *it, after);
    }
  }
  it->object = std::move(object);
  return old;
}

template <typename T>
typename Store<T>::ObjectPtr Store<T>::EraseLocked(KeyRef key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  ObjectPtr old = it->object;
  for (size_t i = 0; i < indexes_.size(); ++i) IndexRemove(i, *it, indexes_[i].fn(*old));
  entries_.erase(it);
  return old;
}

template <typename T>
typename Store<T>::ObjectPtr Store<T>::Upsert(ObjectPtr object) {
  std::unique_lock lock(mu_);
  return UpsertLocked(std::move(object));
}

template <typename T>
typename Store<T>::ObjectPtr Store<T>::Erase(std::string_view namespace_, std::string_view name) {
  std::unique_lock lock(mu_);
  return EraseLocked(KeyRef{namespace_, name});
}

template <typename T>
std::vector<typename Store<T>::Delta> Store<T>::Replace(std::vector<T> objects,
                                                        std::string resource_version) {
  std::vector<ObjectPtr> shared;
  shared.reserve(objects.size());
  for (T& object : objects) shared.push_back(std::make_shared<const T>(std::move(object)));
  objects = {};
  return Replace(std::move(shared), std::move(resource_version));
}

template <typename T>
std::vector<typename Store<T>::Delta> Store<T>::Replace(std::vector<ObjectPtr> objects,
                                                        std::string resource_version) {
  std::vector<Delta> deltas;
  std::unique_lock lock(mu_);
  // Keys of the new set; the views point into objects that stay stored (or
  // in `deltas`) until this function returns.
  struct KeyRefHash {
    size_t operator()(const KeyRef& k) const noexcept { return EntryHash()(k); }
  };
  std::unordered_set<KeyRef, KeyRefHash> listed;
  listed.reserve(objects.size());
  for (ObjectPtr& object : objects) {
    KeyRef key{object->meta.namespace_.view(), object->meta.name};
    auto it = entries_.find(key);
    if (it != entries_.end() && !object->meta.resource_version.empty() &&
        it->object->meta.resource_version == object->meta.resource_version) {
      listed.insert(it->key());  // Unchanged: keep the stored instance.
      object.reset();            // And free the listed one now, not after the loop.
      continue;
    }
    listed.insert(key);
    ObjectPtr old = UpsertLocked(object);
    if (old) {
      deltas.push_back(Delta{DeltaType::kUpdated, std::move(old), std::move(object)});
    } else {
      deltas.push_back(Delta{DeltaType::kAdded, nullptr, std::move(object)});
    }
  }
  std::vector<ObjectPtr> gone;
  for (const Entry& entry : entries_) {
    if (!listed.contains(entry.key())) gone.push_back(entry.object);
  }
  listed.clear();  // Its views may point into objects erased below.
  for (ObjectPtr& object : gone) {
    EraseLocked(KeyRef{object->meta.namespace_.view(), object->meta.name});
    deltas.push_back(Delta{DeltaType::kDeleted, nullptr, std::move(object)});
  }
  resource_version_ = std::move(resource_version);
  return deltas;
}

template <typename T>
typename Store<T>::ObjectPtr Store<T>::Get(std::string_view namespace_,
                                           std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(KeyRef{namespace_, name});
  return it == entries_.end() ? nullptr : it->object;
}

template <typename T>
typename Store<T>::ObjectPtr Store<T>::GetByKey(std::string_view key) const {
  auto [ns, name] = SplitObjectKey(key);
  return Get(ns, name);
}

template <typename T>
std::vector<typename Store<T>::ObjectPtr> Store<T>::List() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(entries_.size());
  for (const Entry& entry : entries_) out.push_back(entry.object);
  return out;
}

template <typename T>
const typename Store<T>::Index* Store<T>::FindIndex(std::string_view name) const {
  for (const Index& index : indexes_) {
    if (index.name == name) return &index;
  }
  return nullptr;
}

template <typename T>
std::vector<typename Store<T>::ObjectPtr> Store<T>::ByIndex(std::string_view index,
                                                            std::string_view value) const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  const Index* idx = FindIndex(index);
  if (idx == nullptr) return out;
  auto it = idx->buckets.find(value);
  if (it == idx->buckets.end()) return out;
  out.reserve(it->second.size());
  for (const Entry* entry : it->second) out.push_back(entry->object);
  return out;
}

template <typename T>
size_t Store<T>::CountByIndex(std::string_view index, std::string_view value) const {
  std::shared_lock lock(mu_);
  const Index* idx = FindIndex(index);
  if (idx == nullptr) return 0;
  auto it = idx->buckets.find(value);
  return it == idx->buckets.end() ? 0 : it->second.size();
}

template <typename T>
std::vector<std::string> Store<T>::IndexValues(std::string_view index) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  const Index* idx = FindIndex(index);
  if (idx == nullptr) return out;
  out.reserve(idx->buckets.size());
  for (const auto& [value, bucket] : idx->buckets) out.push_back(value);
  return out;
}

template <typename T>
size_t Store<T>::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

template <typename T>
std::string Store<T>::resource_version() const {
  std::shared_lock lock(mu_);
  return resource_version_;
}

template <typename T>
void Store<T>::set_resource_version(std::string resource_version) {
  std::unique_lock lock(mu_);
  resource_version_ = std::move(resource_version);
}

extern template class Store<Node>;
extern template class Store<Pod>;
extern template class Store<Lease>;

}  // namespace nodeguard::kube
