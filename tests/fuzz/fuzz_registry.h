// The fuzz targets linked into fuzz_replay (generated fuzz_registry.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cardbureau::testing {

struct FuzzTarget {
  const char* name;
  int (*entry)(const std::uint8_t* data, std::size_t size);
};

const std::vector<FuzzTarget>& FuzzTargets();

}  // namespace cardbureau::testing
