#pragma once

// Small helpers shared by the in-process benchmarks (kube_bench,
// hygiene_bench): test data, varied names and uids, clocks.
// REQUIRES: NODEGUARD_TESTDATA_DIR defined by the target (tests/testdata).

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace nodeguard::bench {

// The whole file tests/testdata/<relative>; exits when missing or empty.
inline std::string ReadFile(const std::string& relative) {
  std::ifstream in(std::string(NODEGUARD_TESTDATA_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  if (out.str().empty()) {
    std::fprintf(stderr, "cannot read %s\n", relative.c_str());
    std::exit(1);
  }
  return out.str();
}

// n characters as in generated object names ("xq2mz"), so strings are not shared by accident.
inline std::string RandomSuffix(std::mt19937_64& rng, size_t n) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
  return s;
}

// A random version-4 UUID.
inline std::string Uid(std::mt19937_64& rng) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
                static_cast<unsigned long long>(rng() & 0xffffffff),
                static_cast<unsigned long long>(rng() & 0xffff),
                static_cast<unsigned long long>(rng() & 0xfff),
                static_cast<unsigned long long>(rng() & 0xfff),
                static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
  return buf;
}

inline double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of this thread: unlike wall time it excludes the time the thread
// waited for a core, so a loaded machine does not distort it as much.
inline double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace nodeguard::bench
