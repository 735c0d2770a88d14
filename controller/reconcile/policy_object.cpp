// Teaches the generic informer (kube/decode.h) to decode NodeHealthPolicy
// objects: simdjson hands over each object's raw text and api::ParsePolicy
// (nlohmann, applying the CRD's defaults) decodes it. Policies are few and
// change rarely, so the slower DOM parser is fine here.

#include "reconcile/policy_object.h"

#include <algorithm>

#include "kube/decode_json.h"

namespace nodeguard {

bool runtime::PolicyObject::has_cleanup_finalizer() const {
  return std::find(finalizers.begin(), finalizers.end(), kCleanupFinalizer) != finalizers.end();
}

bool runtime::GovernanceChanged(const PolicyObject* old_obj, const PolicyObject* obj) {
  if (old_obj == nullptr || obj == nullptr) return true;
  return old_obj->meta.generation != obj->meta.generation ||
         old_obj->deleting() != obj->deleting() || old_obj->valid() != obj->valid();
}

namespace kube {
namespace json {

template <>
struct ObjectDecoder<runtime::PolicyObject> {
  static error_code Decode(od::object& obj, runtime::PolicyObject& out, Problems& problems) {
    std::string_view raw;
    SIMDJSON_TRY(obj.raw_json().get(raw));
    nlohmann::json doc = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return simdjson::TAPE_ERROR;
    Result<api::ParsedPolicy> parsed = api::ParsePolicy(doc);
    if (!parsed.ok()) {
      problems.Flag("NodeHealthPolicy", parsed.error().message);
      return simdjson::SUCCESS;
    }
    out.policy = std::move(parsed->policy);
    out.errors = std::move(parsed->errors);
    out.meta = out.policy.meta;
    if (auto m = doc.find("metadata"); m != doc.end() && m->is_object()) {
      if (auto f = m->find("finalizers"); f != m->end() && f->is_array()) {
        for (const auto& item : *f) {
          if (item.is_string()) out.finalizers.push_back(item.get<std::string>());
        }
      }
    }
    return simdjson::SUCCESS;
  }
};

}  // namespace json

NODEGUARD_KUBE_INSTANTIATE_DECODERS(runtime::PolicyObject)

}  // namespace kube
}  // namespace nodeguard
