# Common compile settings and helpers for every cardbureau target.

add_library(cardbureau_options INTERFACE)
target_compile_options(cardbureau_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wformat=2
  -Wimplicit-fallthrough)
if(CARDBUREAU_WERROR)
  target_compile_options(cardbureau_options INTERFACE -Werror)
endif()
if(CARDBUREAU_SANITIZE)
  target_compile_options(cardbureau_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(cardbureau_options INTERFACE -fsanitize=address,undefined)
endif()

# cb_add_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Declares library cardbureau_<NAME> with alias cardbureau::<NAME> and the
# public include directory <module>/include.
function(cb_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(cardbureau_${name} STATIC ${ARG_SOURCES})
  add_library(cardbureau::${name} ALIAS cardbureau_${name})
  target_include_directories(cardbureau_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>)
  target_link_libraries(cardbureau_${name}
    PUBLIC ${ARG_PUBLIC_DEPS}
    PRIVATE cardbureau_options ${ARG_PRIVATE_DEPS})
  target_compile_definitions(cardbureau_${name} PRIVATE
    CARDBUREAU_SOURCE_DIR="${CARDBUREAU_SOURCE_DIR}")
endfunction()

# Build-speed option (docs/benchmarks.md, "make test build time"). A shared
# precompiled header (gtest + nlohmann-json + std) was measured and dropped:
# no gain on the test files (codegen, not parsing, dominates them).
option(CARDBUREAU_UNITY_TESTS "Unity-build the multi-file test executables" ON)

# The compile settings of test code (test executables, fuzz replays).
function(_cb_test_flags name)
  if(CARDBUREAU_TEST_CODE_O0)
    # The test files themselves at -O0 (the code under test keeps the
    # build's flags): GoogleTest/JSON-heavy test files compile ~40% faster.
    target_compile_options(${name} PRIVATE -O0)
  endif()
  target_compile_definitions(${name} PRIVATE
    CARDBUREAU_SOURCE_DIR="${CARDBUREAU_SOURCE_DIR}"
    CARDBUREAU_BINARY_DIR="${CMAKE_BINARY_DIR}")
endfunction()

set(CB_TEST_ENVIRONMENT
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0"
  "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

# cb_add_test(NAME SOURCES ... [DEPS ...] [LABELS ...] [RESOURCE_LOCK ...]
#             [TIMEOUT seconds])
# A GoogleTest executable registered with ctest as one test per binary. Its
# main (tests/support/src/test_main.cpp) exits 77 when a test skipped, which
# ctest shows as "Skipped" (not "Passed"), and 1 when CI=true is set: nothing
# skips in CI.
# Not gtest_discover_tests (measured 2026-12-02 on the 2-core machine, ASan
# build): listing the 24 binaries' 473 tests took 26 s at build time, and one
# process per test costs 0.2-1.5 s of ASan start-up and static set-up each
# (core_test 0.22 s, server_test 0.43 s, layout_test 1.45 s for one test):
# minutes more per `ctest` for no more information than the exit-77 mapping.
function(cb_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS;RESOURCE_LOCK" ${ARGN})
  if(NOT CARDBUREAU_TESTS)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE cardbureau_options ${ARG_DEPS}
    GTest::gtest GTest::gmock cardbureau_test_main cardbureau_test_files Threads::Threads)
  _cb_test_flags(${name})
  list(LENGTH ARG_SOURCES n_sources)
  if(CARDBUREAU_UNITY_TESTS AND n_sources GREATER 1)
    set_target_properties(${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
  endif()
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "${CB_TEST_ENVIRONMENT}")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  if(ARG_RESOURCE_LOCK)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK "${ARG_RESOURCE_LOCK}")
  endif()
endfunction()

# cb_add_fuzzer(NAME SOURCES ... DEPS ... CORPUS dir [SECONDS n])
# A libFuzzer target. Two builds use it:
#  - the test build (CARDBUREAU_TESTS, gcc or clang): the target's source is
#    compiled into the `fuzz_replay` executable (tests/fuzz), and ctest test
#    fuzz_replay_NAME runs every input of CORPUS and of
#    tests/fuzz/crashes/NAME (crash inputs found so far) under ASan+UBSan;
#  - the fuzz build (CARDBUREAU_FUZZ, clang only): a libFuzzer executable,
#    built by `make fuzz` and run by scripts/fuzz-run.sh on its seed corpus
#    for SECONDS (default 20).
if(CARDBUREAU_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CARDBUREAU_FUZZ needs clang (CXX=clang++)")
  endif()
  target_compile_options(cardbureau_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  target_link_options(cardbureau_options INTERFACE -fsanitize=address,undefined)
  add_custom_target(fuzzers)
  file(WRITE ${CMAKE_BINARY_DIR}/fuzzers.txt "")
endif()
function(cb_add_fuzzer name)
  cmake_parse_arguments(ARG "" "CORPUS;SECONDS" "SOURCES;DEPS" ${ARGN})
  if(CARDBUREAU_TESTS AND NOT CARDBUREAU_FUZZ)
    # Replay build: the entry point renamed so that every target links into
    # one executable (one link instead of one per target).
    add_library(${name}_replay OBJECT ${ARG_SOURCES})
    target_link_libraries(${name}_replay PUBLIC cardbureau_options ${ARG_DEPS})
    _cb_test_flags(${name}_replay)
    target_compile_definitions(${name}_replay PRIVATE
      LLVMFuzzerTestOneInput=cb_fuzz_entry_${name})
    set_property(GLOBAL APPEND PROPERTY CB_FUZZ_TARGETS ${name})
    set_property(GLOBAL PROPERTY CB_FUZZ_CORPUS_${name} "${ARG_CORPUS}")
  endif()
  if(NOT CARDBUREAU_FUZZ)
    return()
  endif()
  if(NOT ARG_SECONDS)
    set(ARG_SECONDS 20)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE cardbureau_options ${ARG_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_compile_definitions(${name} PRIVATE CARDBUREAU_SOURCE_DIR="${CARDBUREAU_SOURCE_DIR}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  add_dependencies(fuzzers ${name})
  file(APPEND ${CMAKE_BINARY_DIR}/fuzzers.txt "${name} ${ARG_SECONDS} ${ARG_CORPUS}\n")
endfunction()
