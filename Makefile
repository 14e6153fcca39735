# edgeflow - the human commands. The build itself is CMake (CMakeLists.txt).
#   make        build ./build/edgeflow
#   make test   install missing deps, build, unit + integration tests, then the same suite under
#               ASan+UBSan, then the fuzz targets (clang/libFuzzer) for a few seconds each
#   make demo   install missing deps, build, run the end-to-end demo on embedded defaults
#   make bench  side-by-side benchmarks with their references (ratios printed)
JOBS ?= $(shell nproc)
CTEST_FLAGS ?= --output-on-failure -j2

.PHONY: all build deps test test-unit test-asan test-fuzz demo bench format clean

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

build-asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DEF_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)

build-fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DEF_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

test: deps build
	cd build && ctest $(CTEST_FLAGS)
	$(MAKE) test-asan test-fuzz

test-asan: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest $(CTEST_FLAGS) -L 'unit|integration'

test-fuzz: build-fuzz
	cd build-fuzz && ctest $(CTEST_FLAGS) -L fuzz

demo: deps build
	scripts/demo.sh

bench: deps build
	bench/run.sh

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c')

clean:
	rm -rf build build-asan build-fuzz
