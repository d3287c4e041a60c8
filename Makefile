# moe-lab — thin Makefile over CMake. `make run` and `make test` work on a fresh Debian 12
# machine: they install what is missing with apt-get, configure, build, then run.
BUILD ?= build
JOBS  ?= 2
CMAKE_FLAGS ?=
DEB_PKGS = cmake g++ make pkg-config libcli11-dev nlohmann-json3-dev libopenblas-dev libfmt-dev \
           libhdf5-dev doctest-dev zlib1g-dev libssl-dev dataset-fashion-mnist python3-h5py python3-numpy \
           python3-matplotlib time parallel slurm-wlm munge libpcre2-dev libsentencepiece-dev libhwy-dev \
           openmpi-bin libopenmpi-dev
# `make fuzz` only: clang with libFuzzer and the sanitizer runtimes
FUZZ_PKGS = clang libclang-rt-14-dev
FUZZ_SECONDS ?= 300

.PHONY: all deps configure build test run clean help plots bench test-asan bench-compare fuzz-deps fuzz format

all: build

help:
	@echo "make build          configure + build into $(BUILD)/ (installs missing Debian packages first)"
	@echo "make test           build, then run every test (ctest, JOBS=$(JOBS) at once)"
	@echo "make run            build, then train the MLP demo on Fashion-MNIST -> runs/pretrain_mlp_fmnist.h5"
	@echo "make corpus         the six-domain LM text corpus from Debian 12 .debs into data/corpus (data/README.md)"
	@echo "make plots RUN=runs/x.h5 [EVAL=runs/x_eval.h5]   PNG plots beside the run (RUN may list several runs)"
	@echo "make test-asan      the whole test suite under AddressSanitizer + UBSan (build-asan/)"
	@echo "make fuzz           libFuzzer on the spec parser, safetensors and the run-file reader, FUZZ_SECONDS ($(FUZZ_SECONDS)) each"
	@echo "make bench          the standard workloads against this machine's GEMM peak (moe-bench --json)"
	@echo "make bench-compare  moe-lab against PyTorch on the same workloads (skipped without python3-torch)"
	@echo "make format         clang-format every C++ file"
	@echo "make clean          remove $(BUILD)/ and build-asan/"
	@echo "make configure      install the missing Debian packages, then configure $(BUILD)/ with cmake"
	@echo "make deps           install the missing Debian packages only (fuzz-deps: also clang for make fuzz)"
	@echo "make all            the same as make build; make help: this list"
	@echo "variables: BUILD=$(BUILD) JOBS=$(JOBS) CMAKE_FLAGS=... FUZZ_SECONDS=$(FUZZ_SECONDS)"

# Installs the packages of $(1) that are missing ($(2) names them in the messages).
apt_install = @missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "moe-lab: installing $(2):$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "moe-lab: all $(2) present"; fi

deps:
	$(call apt_install,$(DEB_PKGS),Debian packages)

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# `make run` trains the demo once: an existing run file is kept (FORCE=1 trains it again and
# replaces it), an interrupted run (its checkpoint exists) is continued with --resume
RUN_OUT = runs/pretrain_mlp_fmnist.h5
run: build
	@mkdir -p runs
	@if [ -n "$(FORCE)" ]; then \
	  ./$(BUILD)/moe-train experiments/pretrain_mlp_fmnist.json -o $(RUN_OUT) --force; \
	elif [ -e $(RUN_OUT).ckpt ]; then \
	  echo "moe-lab: continuing the unfinished run from its checkpoint $(RUN_OUT).ckpt"; \
	  ./$(BUILD)/moe-train experiments/pretrain_mlp_fmnist.json -o $(RUN_OUT) --resume; \
	elif [ -e $(RUN_OUT) ]; then \
	  echo "moe-lab: $(RUN_OUT) exists; nothing to train (make run FORCE=1 trains it again and replaces it)"; \
	else \
	  ./$(BUILD)/moe-train experiments/pretrain_mlp_fmnist.json -o $(RUN_OUT); \
	fi

# the whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOE_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

fuzz-deps: deps
	$(call apt_install,$(FUZZ_PKGS),fuzzing packages)

# libFuzzer (clang, ASan + UBSan) on the spec parser, the safetensors reader and the run-file reader (with the integrity
# check, then with MOE_RUN_FILE_CHECK=0 for UNCHECKED_SECONDS), FUZZ_SECONDS each (build-fuzz/; seeds from experiments/, tests/fixtures/ and run files made by build-fuzz-seed/).
# Corpora, logs and artifacts go to a scratch directory; see tests/fuzz/run_fuzz.sh.
fuzz: fuzz-deps
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOE_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS) --target fuzz_spec fuzz_run_file fuzz_safetensors
	cmake -S . -B build-fuzz-seed -DCMAKE_BUILD_TYPE=Release
	cmake --build build-fuzz-seed -j $(JOBS) --target moe-train
	tests/fuzz/run_fuzz.sh build-fuzz build-fuzz-seed $(FUZZ_SECONDS)

# the causal LMs' text corpus: six domains from Debian 12 packages (data/README.md); CORPUS_DIR, DEB_CACHE
.PHONY: corpus
corpus:
	data/make_corpus.sh

# make plots RUN=runs/x.h5 [EVAL=runs/x_eval.h5]  -> PNGs beside the run file
plots:
	@[ -n "$(RUN)" ] || { echo "usage: make plots RUN=runs/x.h5 [EVAL=eval.h5]"; exit 2; }
	/usr/bin/python3 experiments/tools/plot_run.py $(RUN) $(if $(EVAL),--eval $(EVAL))

# the standard workloads (experiments/bench/README.md) against this machine's GEMM peak
bench: build
	./$(BUILD)/moe-bench --json

# moe-lab vs PyTorch on the same workloads (experiments/bench/bench_torch.py; skipped without python3-torch)
bench-compare: build
	BUILD=$(BUILD) experiments/bench/compare.sh

# clang-format (.clang-format) over every C++ file
format:
	find lib apps tests experiments -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) build-asan
