#include "kube/uid.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <unordered_set>

namespace nodeguard::kube {
namespace {

TEST(Uid, EmptyByDefaultAndFromEmptyText) {
  EXPECT_TRUE(Uid().empty());
  EXPECT_TRUE(Uid("").empty());
  EXPECT_EQ(Uid().str(), "");
  EXPECT_EQ(Uid(), Uid(""));
}

TEST(Uid, CanonicalUuidRoundTripsWithoutTheHeap) {
  const std::string text = "130f140d-974f-4b99-a58f-f1d7ad184da3";
  const Uid uid(text);
  EXPECT_FALSE(uid.empty());
  EXPECT_EQ(uid.str(), text);
  EXPECT_EQ(uid, Uid(std::string(text)));
  EXPECT_NE(uid, Uid("130f140d-974f-4b99-a58f-f1d7ad184da4"));
  // The point of the type: 16 bytes and a Symbol, not 32 bytes plus a heap block.
  EXPECT_LE(sizeof(Uid), 24u);
}

TEST(Uid, AnyOtherTextRoundTripsExactly) {
  for (const char* text : {"uid-1", "p", "130F140D-974F-4B99-A58F-F1D7AD184DA3",  // uppercase
                           "130f140d974f4b99a58ff1d7ad184da3",                    // no hyphens
                           "130f140d-974f-4b99-a58f-f1d7ad184dag",                // not hex
                           "130f140d-974f-4b99-a58f-f1d7ad184da",                 // short
                           "00000000-0000-0000-0000-000000000000"}) {             // nil UUID
    SCOPED_TRACE(text);
    const Uid uid(text);
    EXPECT_FALSE(uid.empty());
    EXPECT_EQ(uid.str(), text);
    EXPECT_EQ(uid, Uid(text));
  }
  // Canonical and non-canonical spellings of the same UUID are different uids,
  // as their texts are.
  EXPECT_NE(Uid("130F140D-974F-4B99-A58F-F1D7AD184DA3"),
            Uid("130f140d-974f-4b99-a58f-f1d7ad184da3"));
}

TEST(Uid, ComparesWithTextAndHashesConsistently) {
  const Uid uid("e26bfa36-7051-4278-a8b7-0875b3083205");
  EXPECT_TRUE(uid == std::string("e26bfa36-7051-4278-a8b7-0875b3083205"));
  EXPECT_TRUE(uid != "uid-2");
  std::unordered_set<Uid> set = {uid, Uid("uid-2")};
  EXPECT_EQ(set.count(Uid("e26bfa36-7051-4278-a8b7-0875b3083205")), 1u);
  EXPECT_EQ(set.count(Uid("uid-2")), 1u);
  EXPECT_EQ(set.count(Uid("uid-3")), 0u);
  std::ostringstream out;
  out << uid;
  EXPECT_EQ(out.str(), "e26bfa36-7051-4278-a8b7-0875b3083205");
}

}  // namespace
}  // namespace nodeguard::kube
