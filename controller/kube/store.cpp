#include "kube/store.h"

namespace nodeguard::kube {

std::string ObjectKey(std::string_view namespace_, std::string_view name) {
  std::string key;
  key.reserve(namespace_.size() + 1 + name.size());
  if (!namespace_.empty()) key.append(namespace_).push_back('/');
  key.append(name);
  return key;
}

std::pair<std::string_view, std::string_view> SplitObjectKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return {std::string_view(), key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Status AddPodIndexes(Store<Pod>& store) {
  Status s = store.AddIndex(std::string(kIndexNamespace),
                            [](const Pod& pod) { return pod.meta.namespace_.view(); });
  if (!s.ok()) return s;
  return store.AddIndex(std::string(kIndexNodeName),
                        [](const Pod& pod) { return pod.node_name.view(); });
}

template class Store<Node>;
template class Store<Pod>;
template class Store<Lease>;

}  // namespace nodeguard::kube
