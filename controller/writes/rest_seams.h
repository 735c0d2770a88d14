#pragma once

// The write seams (and hygiene's readers) over kube::RestClient: what the
// wiring (runtime/controller.cpp) hands the reconcilers, which see only the
// interfaces. Each request's URL, verb, body and content type is the one the
// reconcilers sent themselves before the seams; errors are kube/rest.h's
// mapping, with the seam's own additions noted per class.
// Thread-safe (RestClient is; the node view has its own mutex).

#include <mutex>
#include <string>

#include "kube/rest.h"
#include "writes/event_reader.h"
#include "writes/event_writer.h"
#include "writes/finalizers.h"
#include "writes/node_writer.h"
#include "writes/pod_annotator.h"
#include "writes/policy_report_reader.h"
#include "writes/policy_report_writer.h"
#include "writes/written_nodes.h"

namespace nodeguard::writes {

// PATCH /api/v1/nodes/NAME: application/merge-patch+json (EncodeNodePatch)
// or application/json-patch+json; a failed JSON patch `test` (422) becomes
// kConflict; after a conditional Patch's kConflict, GET /api/v1/nodes/NAME
// into the view.
class RestNodeWriter final : public NodeWriter {
 public:
  explicit RestNodeWriter(kube::RestClient& rest) : rest_(rest) {}

  Result<std::shared_ptr<const kube::Node>> Patch(const std::string& name, const NodePatch& patch,
                                                  const std::string& resource_version) override;
  Status PatchJson(const std::string& name, const std::string& json_patch) override;
  void Freshen(std::vector<std::shared_ptr<const kube::Node>>& nodes) override;

 private:
  void ReadAgainAfterConflict(const std::string& name);

  kube::RestClient& rest_;
  std::mutex mu_;
  WrittenNodes view_;  // Guarded by mu_.
};

// PATCH /api/v1/namespaces/NS/pods/NAME, application/merge-patch+json:
// {"metadata":{"resourceVersion":RV,"annotations":{KEY:VALUE-or-null}}}.
class RestPodAnnotator final : public PodAnnotator {
 public:
  explicit RestPodAnnotator(kube::RestClient& rest) : rest_(rest) {}
  Status Annotate(const std::string& namespace_, const std::string& name,
                  const std::string& resource_version, const std::string& key,
                  const std::optional<std::string>& value) override;

 private:
  kube::RestClient& rest_;
};

// GET /api/v1/events?fieldSelector=reason%3DREASON (all pages);
// POST /api/v1/namespaces/NS/events with the EventRecord's JSON.
class RestEvents final : public EventReader, public EventWriter {
 public:
  explicit RestEvents(kube::RestClient& rest) : rest_(rest) {}
  Result<std::vector<EventSummary>> ListByReason(std::string_view reason) override;
  Status Create(const kube::EventRecord& event) override;

 private:
  kube::RestClient& rest_;
};

// GET /apis/wgpolicyk8s.io/v1alpha2 (discovery, 404 = not served);
// GET /apis/wgpolicyk8s.io/v1alpha2/policyreports?labelSelector=
// app.kubernetes.io/managed-by=nodeguard; PATCH (server-side apply,
// fieldManager=`field_manager`, force=true) and DELETE of
// /apis/wgpolicyk8s.io/v1alpha2/namespaces/NS/policyreports/NAME.
class RestPolicyReports final : public PolicyReportReader, public PolicyReportWriter {
 public:
  explicit RestPolicyReports(kube::RestClient& rest, std::string field_manager = "nodeguard")
      : rest_(rest), field_manager_(std::move(field_manager)) {}
  Result<bool> Served() override;
  Result<std::set<std::pair<std::string, std::string>>> ListManaged() override;
  Status Apply(const std::string& namespace_, const std::string& name,
               const std::string& report) override;
  Status Delete(const std::string& namespace_, const std::string& name) override;

 private:
  kube::RestClient& rest_;
  const std::string field_manager_;
};

// PATCH /apis/nodeguard.io/v1alpha1/nodehealthpolicies/NAME,
// application/merge-patch+json:
// {"metadata":{"finalizers":[...],"resourceVersion":RV}}.
class RestFinalizers final : public Finalizers {
 public:
  explicit RestFinalizers(kube::RestClient& rest) : rest_(rest) {}
  Status Set(const std::string& policy, const std::string& resource_version,
             const std::vector<std::string>& finalizers) override;

 private:
  kube::RestClient& rest_;
};

}  // namespace nodeguard::writes
