#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "reconcile/reconciler.h"

namespace nodeguard::manager::test_support {

// The manager tests' Reconciler (work_loops_test, manager_test).
//
// Answers each Reconcile with the next scripted result (success when none
// is left) and records the keys. With `hold_first`, the first reconcile waits
// until Release().
class ScriptedReconciler final : public runtime::Reconciler {
 public:
  explicit ScriptedReconciler(std::string name, bool hold_first = false)
      : name_(std::move(name)), hold_first_(hold_first) {}
  std::string_view name() const override { return name_; }
  void EnqueueAll(kube::WorkQueue& queue) override {
    ++enqueue_all_calls;
    for (const auto& k : all_keys) queue.Add(k);
  }
  Result<runtime::ReconcileResult> Reconcile(const std::string& key) override {
    std::unique_lock lock(mu_);
    keys_.push_back(key);
    changed_.notify_all();
    if (hold_first_ && keys_.size() == 1) changed_.wait(lock, [&] { return released_; });
    if (script.empty()) return runtime::ReconcileResult{};
    Result<runtime::ReconcileResult> next = script.front();
    script.pop_front();
    return next;
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    changed_.notify_all();
  }
  bool WaitForKeys(size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return keys_.size() >= n; });
  }
  std::vector<std::string> keys() const {
    std::lock_guard lock(mu_);
    return keys_;
  }

  std::deque<Result<runtime::ReconcileResult>> script;  // Set before any worker runs.
  std::vector<std::string> all_keys;                    // What EnqueueAll adds; set before.
  std::atomic<int> enqueue_all_calls{0};                // Leadership start, resyncs.

 private:
  const std::string name_;
  const bool hold_first_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> keys_;  // Guarded by mu_.
  bool released_ = false;          // Guarded by mu_.
};

}  // namespace nodeguard::manager::test_support
