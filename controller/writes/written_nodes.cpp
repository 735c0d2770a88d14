#include "writes/written_nodes.h"

#include <set>
#include <string_view>

#include "writes/node_writer.h"

namespace nodeguard::writes {

void WrittenNodes::Written(std::shared_ptr<const kube::Node> node) {
  const std::string name = node->meta.name;
  nodes_[name] = std::move(node);
}

void WrittenNodes::ReadAgain(std::shared_ptr<const kube::Node> node) {
  auto it = nodes_.find(node->meta.name);
  if (it == nodes_.end()) {
    const std::string name = node->meta.name;
    nodes_.emplace(name, std::move(node));
  } else if (NewerResourceVersion(node->meta.resource_version, it->second->meta.resource_version)) {
    it->second = std::move(node);
  }
}

void WrittenNodes::Freshen(std::vector<std::shared_ptr<const kube::Node>>& nodes) {
  if (nodes_.empty()) return;  // The common case: nothing written lately.
  std::set<std::string_view> listed;
  for (auto& cached : nodes) {
    auto it = nodes_.find(cached->meta.name);
    if (it != nodes_.end()) {
      if (NewerResourceVersion(it->second->meta.resource_version, cached->meta.resource_version)) {
        cached = it->second;
      } else {
        nodes_.erase(it);  // The informer caught up.
      }
    }
    listed.insert(cached->meta.name);  // Into the copy `nodes` keeps.
  }
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    it = listed.count(it->first) > 0 ? std::next(it) : nodes_.erase(it);
  }
}

}  // namespace nodeguard::writes
