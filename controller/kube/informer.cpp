#include "kube/informer.h"

#include <random>

namespace nodeguard::kube {
namespace informer_internal {

uint64_t SeedOrRandom(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device();
}

}  // namespace informer_internal

template class Informer<Node>;
template class Informer<Pod>;
template class Informer<Lease>;

}  // namespace nodeguard::kube
