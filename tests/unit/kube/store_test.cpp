#include "kube/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace nodeguard::kube {
namespace {

Pod MakePod(std::string_view ns, std::string_view name, std::string_view node,
            std::string_view rv = "1") {
  Pod pod;
  pod.meta.namespace_ = Symbol::Intern(ns);
  pod.meta.name = std::string(name);
  pod.meta.resource_version = std::string(rv);
  pod.node_name = Symbol::Intern(node);
  return pod;
}

std::set<std::string> Names(const std::vector<Store<Pod>::ObjectPtr>& pods) {
  std::set<std::string> out;
  for (const auto& p : pods) out.insert(ObjectKey(p->meta));
  return out;
}

std::unique_ptr<Store<Pod>> NewIndexedStore() {
  auto store = std::make_unique<Store<Pod>>();
  EXPECT_TRUE(AddPodIndexes(*store).ok());
  return store;
}

TEST(ObjectKey, NamespacedAndClusterScoped) {
  EXPECT_EQ(ObjectKey("shop", "web-1"), "shop/web-1");
  EXPECT_EQ(ObjectKey("", "worker-01"), "worker-01");
  EXPECT_EQ(SplitObjectKey("shop/web-1"),
            std::make_pair(std::string_view("shop"), std::string_view("web-1")));
  EXPECT_EQ(SplitObjectKey("worker-01"),
            std::make_pair(std::string_view(), std::string_view("worker-01")));
  Node node;
  node.meta.name = "n1";
  EXPECT_EQ(ObjectKey(node.meta), "n1");
}

TEST(Store, AddIndexRules) {
  Store<Pod> store;
  EXPECT_TRUE(store.AddIndex("a", [](const Pod&) { return std::string_view(); }).ok());
  EXPECT_FALSE(store.AddIndex("a", [](const Pod&) { return std::string_view(); }).ok());
  EXPECT_TRUE(store.AddIndex("b", [](const Pod&) { return std::string_view(); }).ok());
  EXPECT_TRUE(store.AddIndex("c", [](const Pod&) { return std::string_view(); }).ok());
  EXPECT_TRUE(store.AddIndex("d", [](const Pod&) { return std::string_view(); }).ok());
  EXPECT_FALSE(store.AddIndex("e", [](const Pod&) { return std::string_view(); }).ok());

  Store<Pod> used;
  used.Upsert(MakePod("ns", "p", "n"));
  EXPECT_FALSE(used.AddIndex("late", [](const Pod&) { return std::string_view(); }).ok());
}

TEST(Store, UpsertGetErase) {
  auto owned = NewIndexedStore();
  Store<Pod>& store = *owned;
  EXPECT_EQ(store.Upsert(MakePod("shop", "web-1", "node-a", "10")), nullptr);
  EXPECT_EQ(store.Upsert(MakePod("shop", "web-2", "node-a", "11")), nullptr);
  EXPECT_EQ(store.Upsert(MakePod("default", "web-1", "node-b", "12")), nullptr);
  EXPECT_EQ(store.size(), 3u);

  auto p = store.Get("shop", "web-1");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->meta.resource_version, "10");
  EXPECT_EQ(store.GetByKey("default/web-1")->node_name.str(), "node-b");
  EXPECT_EQ(store.Get("shop", "missing"), nullptr);
  EXPECT_EQ(store.Get("other", "web-1"), nullptr);

  auto old = store.Upsert(MakePod("shop", "web-1", "node-a", "13"));
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->meta.resource_version, "10");
  EXPECT_EQ(store.Get("shop", "web-1")->meta.resource_version, "13");
  EXPECT_EQ(store.size(), 3u);

  // A reader's pointer stays valid after the object leaves the store.
  auto held = store.Get("shop", "web-2");
  auto erased = store.Erase("shop", "web-2");
  EXPECT_EQ(erased, held);
  EXPECT_EQ(held->meta.name, "web-2");
  EXPECT_EQ(store.Erase("shop", "web-2"), nullptr);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(Names(store.List()), (std::set<std::string>{"shop/web-1", "default/web-1"}));
}

TEST(Store, IndexesFollowUpdatesAndDeletes) {
  auto owned = NewIndexedStore();
  Store<Pod>& store = *owned;
  store.Upsert(MakePod("shop", "pending", "", "1"));  // Unscheduled: not filed by node.
  store.Upsert(MakePod("shop", "a", "node-1"));
  store.Upsert(MakePod("shop", "b", "node-1"));
  store.Upsert(MakePod("kube-system", "c", "node-2"));

  EXPECT_EQ(Names(store.ByIndex(kIndexNodeName, "node-1")),
            (std::set<std::string>{"shop/a", "shop/b"}));
  EXPECT_EQ(store.CountByIndex(kIndexNodeName, ""), 0u);
  EXPECT_EQ(store.CountByIndex(kIndexNamespace, "shop"), 3u);

  // Scheduling moves the pod into a node's bucket.
  store.Upsert(MakePod("shop", "pending", "node-2", "2"));
  EXPECT_EQ(Names(store.ByIndex(kIndexNodeName, "node-2")),
            (std::set<std::string>{"shop/pending", "kube-system/c"}));
  // Deleting the first of a bucket keeps the rest reachable.
  store.Erase("shop", "a");
  EXPECT_EQ(Names(store.ByIndex(kIndexNodeName, "node-1")), (std::set<std::string>{"shop/b"}));
  store.Erase("shop", "b");
  EXPECT_TRUE(store.ByIndex(kIndexNodeName, "node-1").empty());
  auto values = store.IndexValues(kIndexNodeName);
  EXPECT_EQ(std::set<std::string>(values.begin(), values.end()),
            (std::set<std::string>{"node-2"}));  // Empty buckets are dropped.
  EXPECT_TRUE(store.ByIndex("no-such-index", "x").empty());
  EXPECT_EQ(store.CountByIndex("no-such-index", "x"), 0u);
}

// Random operations checked against a plain map: the indexes must always
// agree with a full scan.
TEST(Store, RandomOperationsMatchAModel) {
  auto owned = NewIndexedStore();
  Store<Pod>& store = *owned;
  std::map<std::string, Pod> model;
  std::mt19937 rng(42);
  const std::vector<std::string> nodes = {"", "n1", "n2", "n3"};
  const std::vector<std::string> namespaces = {"a", "b"};
  for (int step = 0; step < 20000; ++step) {
    std::string ns = namespaces[rng() % namespaces.size()];
    std::string name = "p" + std::to_string(rng() % 60);
    std::string key = ObjectKey(ns, name);
    if (rng() % 3 == 0) {
      auto erased = store.Erase(ns, name);
      EXPECT_EQ(erased != nullptr, model.erase(key) == 1);
    } else {
      Pod pod = MakePod(ns, name, nodes[rng() % nodes.size()], std::to_string(step));
      auto old = store.Upsert(pod);
      EXPECT_EQ(old != nullptr, model.count(key) == 1);
      model[key] = pod;
    }
    if (step % 500 == 0 || step == 19999) {
      ASSERT_EQ(store.size(), model.size());
      for (const std::string& node : nodes) {
        std::set<std::string> expected;
        for (const auto& [k, p] : model) {
          if (!node.empty() && p.node_name == node) expected.insert(k);
        }
        EXPECT_EQ(Names(store.ByIndex(kIndexNodeName, node)), expected) << node;
      }
      for (const std::string& n : namespaces) {
        size_t expected = 0;
        for (const auto& [k, p] : model) expected += p.meta.namespace_ == n;
        EXPECT_EQ(store.CountByIndex(kIndexNamespace, n), expected);
      }
    }
  }
}

TEST(Store, ReplaceComputesDeltas) {
  auto owned = NewIndexedStore();
  Store<Pod>& store = *owned;
  store.Upsert(MakePod("ns", "kept", "n1", "5"));
  store.Upsert(MakePod("ns", "changed", "n1", "6"));
  store.Upsert(MakePod("ns", "gone", "n2", "7"));
  auto kept_before = store.Get("ns", "kept");

  std::vector<Pod> relisted = {MakePod("ns", "kept", "n1", "5"),
                               MakePod("ns", "changed", "n3", "9"),
                               MakePod("ns", "new", "n2", "10")};
  auto deltas = store.Replace(std::move(relisted), "10");

  std::map<std::string, DeltaType> by_key;
  for (const auto& d : deltas) by_key[ObjectKey(d.object->meta)] = d.type;
  EXPECT_EQ(by_key, (std::map<std::string, DeltaType>{{"ns/changed", DeltaType::kUpdated},
                                                      {"ns/new", DeltaType::kAdded},
                                                      {"ns/gone", DeltaType::kDeleted}}));
  for (const auto& d : deltas) {
    if (d.type == DeltaType::kUpdated) {
      EXPECT_EQ(d.old_object->meta.resource_version, "6");
      EXPECT_EQ(d.object->meta.resource_version, "9");
    }
    if (d.type == DeltaType::kDeleted) {
      EXPECT_EQ(d.object->meta.resource_version, "7");
    }
  }
  EXPECT_EQ(store.Get("ns", "kept"), kept_before);  // Unchanged: same instance.
  EXPECT_EQ(store.Get("ns", "gone"), nullptr);
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.resource_version(), "10");
  EXPECT_EQ(Names(store.ByIndex(kIndexNodeName, "n3")), (std::set<std::string>{"ns/changed"}));
  EXPECT_EQ(Names(store.ByIndex(kIndexNodeName, "n2")), (std::set<std::string>{"ns/new"}));

  // Relisting nothing deletes everything.
  deltas = store.Replace(std::vector<Pod>{}, "11");
  EXPECT_EQ(deltas.size(), 3u);
  EXPECT_EQ(store.size(), 0u);
  EXPECT_TRUE(store.IndexValues(kIndexNodeName).empty());
}

TEST(Store, ResourceVersion) {
  Store<Node> store;
  EXPECT_EQ(store.resource_version(), "");
  store.set_resource_version("42");
  EXPECT_EQ(store.resource_version(), "42");
}

TEST(Store, ConcurrentReadersAndAWriter) {
  auto owned = NewIndexedStore();
  Store<Pod>& store = *owned;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i) {
      std::string name = "p" + std::to_string(i % 300);
      if (i % 4 == 3) {
        store.Erase("ns", name);
      } else {
        store.Upsert(MakePod("ns", name, "n" + std::to_string(i % 7), std::to_string(i)));
      }
    }
    done = true;
  });
  std::vector<std::thread> readers;
  std::atomic<size_t> seen{0};
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        for (const auto& p : store.ByIndex(kIndexNodeName, "n3")) {
          // Every object filed under n3 must be on n3 (a consistent snapshot).
          EXPECT_EQ(p->node_name.view(), "n3");
          ++seen;
        }
        EXPECT_LE(store.List().size(), 300u);
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_LE(store.size(), 300u);
}

}  // namespace
}  // namespace nodeguard::kube
