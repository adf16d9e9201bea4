# The README's two commands are the contract: `make demo` and `make test`.
# Both install missing Debian packages, configure, build and run.

JOBS ?= $(shell nproc)
BUILD_RELEASE ?= build/release
BUILD_TEST ?= build/test
BUILD_FUZZ ?= build/fuzz
CMAKE ?= cmake
CTEST_ARGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all deps build demo test test-slow bench fuzz fuzz-run package clean format check-format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_RELEASE)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD_RELEASE) -DCMAKE_BUILD_TYPE=Release -DCARDBUREAU_TESTS=OFF -DCARDBUREAU_BENCH=ON

build: deps $(BUILD_RELEASE)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_RELEASE) -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD_RELEASE)/bin/cardbureau

# The Debian package of the Release build (docs/install.md). Re-runs cmake so
# `cardbureau --version` names the commit being packaged; builds only the
# executable, then cpack writes $(BUILD_RELEASE)/cardbureau_<version>_amd64.deb.
package: deps $(BUILD_RELEASE)/CMakeCache.txt
	$(CMAKE) $(BUILD_RELEASE)
	$(CMAKE) --build $(BUILD_RELEASE) -j $(JOBS) --target cardbureau
	cd $(BUILD_RELEASE) && cpack -G DEB
	@ls -l $(BUILD_RELEASE)/cardbureau_*.deb

# -g1 (line tables only): sanitizer reports keep file:line in every frame,
# and the heavy Beast/Asio and nlohmann-json files compile a third faster
# than with full -g (http/src/server.cpp: 97 s -> 65 s on a 2-core Zen 5).
# For a debugger session, configure a build of your own with -g.
$(BUILD_TEST)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD_TEST) -DCMAKE_BUILD_TYPE=Debug -DCARDBUREAU_TESTS=ON \
	  -DCARDBUREAU_SANITIZE=ON -DCARDBUREAU_WERROR=ON -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
	  -DCARDBUREAU_TEST_CODE_O0=ON

# One instrumented (gcc, ASan+UBSan) build serves the tests and the fuzz
# targets: ctest's fuzz_replay_<target> entries run every fuzz target on its
# seed corpus and on tests/fuzz/crashes/<target>/ (every crash found so far),
# and fuzz_mutate_<target> mutates those inputs for a bounded 60 s in all
# (blind mutation: gcc has no libFuzzer). Coverage-guided fuzzing needs the
# separate clang build: `make fuzz-run`.
test: deps $(BUILD_TEST)/CMakeCache.txt
	bash scripts/check-format.sh
	$(CMAKE) --build $(BUILD_TEST) -j $(JOBS)
	cd $(BUILD_TEST) && ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

# Long runs kept out of `make test` (ctest label `slow`): the 1,500-job
# hostile-centre flood.
test-slow: deps $(BUILD_TEST)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_TEST) -j $(JOBS)
	cd $(BUILD_TEST) && ctest --output-on-failure -L slow $(CTEST_ARGS)

bench: build
	bash scripts/bench.sh $(BUILD_RELEASE)

$(BUILD_FUZZ)/CMakeCache.txt:
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCARDBUREAU_TESTS=OFF -DCARDBUREAU_FUZZ=ON -DCARDBUREAU_WERROR=OFF

fuzz: deps $(BUILD_FUZZ)/CMakeCache.txt
	$(CMAKE) --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers

# Runs every fuzz target for FUZZ_SECONDS (split over the targets) on its
# seed corpus; any crash fails the run. Not part of `make test` (a second,
# clang, build of the tree): run it before a release and after touching a
# parser. Keep each crash it finds as a regression input in
# tests/fuzz/crashes/<target>/ (make test replays it).
fuzz-run: fuzz
	bash scripts/fuzz-run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

clean:
	rm -rf build out

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

# Fails when a tracked source differs from .clang-format; `make test` runs it
# first, so CI (`.ci/run` = `make test`) refuses an unformatted tree.
check-format:
	bash scripts/check-format.sh
