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

# cb_add_test(NAME SOURCES ... [DEPS ...] [LABELS ...] [RESOURCE_LOCK ...]
#             [TIMEOUT seconds])
# A GoogleTest executable registered with ctest as one test per binary.
function(cb_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS;RESOURCE_LOCK" ${ARGN})
  if(NOT CARDBUREAU_TESTS)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE cardbureau_options ${ARG_DEPS}
    GTest::gtest GTest::gmock GTest::gtest_main)
  if(CARDBUREAU_TEST_CODE_O0)
    # The test files themselves at -O0 (the code under test keeps the
    # build's flags): GoogleTest/JSON-heavy test files compile ~40% faster.
    target_compile_options(${name} PRIVATE -O0)
  endif()
  target_compile_definitions(${name} PRIVATE
    CARDBUREAU_SOURCE_DIR="${CARDBUREAU_SOURCE_DIR}"
    CARDBUREAU_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0;LSAN_OPTIONS=suppressions=${CARDBUREAU_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  if(ARG_RESOURCE_LOCK)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK "${ARG_RESOURCE_LOCK}")
  endif()
endfunction()

# cb_add_fuzzer(NAME SOURCES ... DEPS ... CORPUS dir [SECONDS n])
# A libFuzzer target (clang only), built by `make fuzz` and run by
# scripts/fuzz-run.sh on its seed corpus for SECONDS (default 20).
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
