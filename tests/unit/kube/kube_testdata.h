#pragma once

// Reads fixtures from tests/testdata (NODEGUARD_TESTDATA_DIR).

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace nodeguard::kube::testing {

inline std::string ReadTestdata(std::string_view relative) {
  std::string path = std::string(NODEGUARD_TESTDATA_DIR) + "/" + std::string(relative);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The non-empty lines of a newline-delimited file (a captured watch stream).
inline std::vector<std::string> ReadTestdataLines(std::string_view relative) {
  std::istringstream in(ReadTestdata(relative));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace nodeguard::kube::testing
