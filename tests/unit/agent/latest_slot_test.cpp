#include "agent/latest_slot.h"

#include <gtest/gtest.h>

#include <thread>

namespace nodeguard::agent {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const int> Int(int v) { return std::make_shared<const int>(v); }

TEST(LatestSlot, EmptyUntilPut) {
  LatestSlot<int> slot;
  auto taken = slot.Take();
  EXPECT_EQ(taken.value, nullptr);
  EXPECT_FALSE(taken.fresh);
  EXPECT_FALSE(taken.closed);
}

TEST(LatestSlot, LatestWinsAndIsFreshOnce) {
  LatestSlot<int> slot;
  slot.Put(Int(1));
  slot.Put(Int(2));
  slot.Put(Int(3));
  auto taken = slot.Take();
  ASSERT_NE(taken.value, nullptr);
  EXPECT_EQ(*taken.value, 3);
  EXPECT_TRUE(taken.fresh);
  // Taking again gives the same value, no longer fresh: what a periodic
  // re-decision uses.
  taken = slot.Take();
  ASSERT_NE(taken.value, nullptr);
  EXPECT_EQ(*taken.value, 3);
  EXPECT_FALSE(taken.fresh);
}

TEST(LatestSlot, WaitForReturnsTheCachedValueWhenNothingNewArrives) {
  LatestSlot<int> slot;
  slot.Put(Int(5));
  slot.Take();
  auto taken = slot.WaitFor(1ms);
  ASSERT_NE(taken.value, nullptr);
  EXPECT_EQ(*taken.value, 5);
  EXPECT_FALSE(taken.fresh);
}

TEST(LatestSlot, NullClearsTheValue) {
  LatestSlot<int> slot;
  slot.Put(Int(5));
  slot.Put(nullptr);  // The Node was deleted.
  auto taken = slot.Take();
  EXPECT_EQ(taken.value, nullptr);
  EXPECT_TRUE(taken.fresh);
}

TEST(LatestSlot, WakesAWaitingConsumer) {
  LatestSlot<int> slot;
  std::thread producer([&] { slot.Put(Int(9)); });
  // Long enough never to be what ends the wait on a loaded machine.
  auto taken = slot.WaitFor(std::chrono::minutes(5));
  producer.join();
  ASSERT_NE(taken.value, nullptr);
  EXPECT_EQ(*taken.value, 9);
  EXPECT_TRUE(taken.fresh);
}

TEST(LatestSlot, CloseEndsWaitsForGood) {
  LatestSlot<int> slot;
  slot.Put(Int(1));
  slot.Take();
  std::thread closer([&] { slot.Close(); });
  auto taken = slot.WaitFor(std::chrono::minutes(5));
  closer.join();
  EXPECT_TRUE(taken.closed);
  EXPECT_TRUE(slot.WaitFor(std::chrono::minutes(5)).closed);
}

}  // namespace
}  // namespace nodeguard::agent
