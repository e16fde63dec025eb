# edgeflow: thin wrappers around scripts/ and CMake.
#   make run    install what is missing, build, run flows/demo.json (editor on :1880)
#   make test   install, build (normal and ASan+UBSan), run every test
#   make bench  side-by-side benchmarks against Node-RED
#   make valgrind  unit and flow tests under valgrind (memcheck)
#   make fuzz   libFuzzer targets of tests/fuzz, FUZZ_SECONDS (600) each
.PHONY: all setup build run test bench valgrind fuzz clean format

JOBS ?= $(shell nproc)
PORT ?= 1880

all: build

setup:
	@bash scripts/setup.sh

build: setup
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEF_JSONATA=ON >/dev/null
	@cmake --build build -j$(JOBS)

# The editor's deploys write to a copy of the demo in build/userdir (refreshed
# when flows/demo.json is newer), never to the repository's flows/demo.json.
RUN_DIR ?= build/userdir
run: build
	@mkdir -p $(RUN_DIR)
	@if [ ! -f $(RUN_DIR)/flows.json ] || [ flows/demo.json -nt $(RUN_DIR)/flows.json ]; then \
	    cp flows/demo.json $(RUN_DIR)/flows.json; rm -f $(RUN_DIR)/flows_cred.json; fi
	@echo "edgeflow: editor at http://127.0.0.1:$(PORT)/ (flows in $(RUN_DIR)/flows.json)"
	./build/edgeflow run $(RUN_DIR)/flows.json --user-dir $(RUN_DIR) --port $(PORT) --debug-stdout

test: setup
	@cmake -S . -B build-asan -DEF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DEF_JSONATA=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEF_ASAN_BUILD_DIR=$(CURDIR)/build-asan -DEF_JSONATA=ON >/dev/null
	@cmake --build build -j$(JOBS)
	@cd build && ctest -j$(JOBS) --output-on-failure --timeout 300

valgrind: build
	@cd build && ctest -T memcheck -j$(JOBS) -R '^(unit|flow)\.' --output-on-failure

bench: setup
	@bash bench/run.sh

fuzz: setup
	@bash scripts/fuzz.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-bench build-fuzz
