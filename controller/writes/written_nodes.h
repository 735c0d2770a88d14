#pragma once

// WrittenNodes: the read-your-writes view a NodeWriter owns (node_writer.h
// says what it holds and why), as a value both the REST NodeWriter and the
// tests' fake keep. Not thread-safe: its owner's mutex guards it.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kube/objects.h"

namespace nodeguard::writes {

class WrittenNodes {
 public:
  // The copy a write returned: the newest there is of the node.
  void Written(std::shared_ptr<const kube::Node> node);
  // A copy read again: kept only when newer than what the view holds.
  void ReadAgain(std::shared_ptr<const kube::Node> node);
  // NodeWriter::Freshen.
  void Freshen(std::vector<std::shared_ptr<const kube::Node>>& nodes);

  size_t size() const { return nodes_.size(); }

 private:
  std::map<std::string, std::shared_ptr<const kube::Node>, std::less<>> nodes_;  // By name.
};

}  // namespace nodeguard::writes
