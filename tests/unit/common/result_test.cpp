#include "common/result.h"

#include <gtest/gtest.h>

namespace nodeguard {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return Error::Invalid(std::to_string(n) + " is odd");
  return n / 2;
}

TEST(Result, HoldsValueOrError) {
  auto ok = Half(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 4);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Error, ToStringNamesReasonAndCode) {
  Error e = Error::Of(ErrorKind::kConflict, "the object has been modified");
  e.http_status = 409;
  e.reason = "Conflict";
  EXPECT_EQ(e.ToString(), "Conflict (409): the object has been modified");
  EXPECT_FALSE(e.Retryable());
  EXPECT_EQ(Error::Unavailable("connection refused").ToString(), "Unavailable: connection refused");
  EXPECT_TRUE(Error::Unavailable("x").Retryable());
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status bad = Error::Timeout("drain");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kTimeout);
}

}  // namespace
}  // namespace nodeguard
