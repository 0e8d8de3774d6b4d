# `make test` is the project's one test command: C unit tests, then pytest.
PYTHON ?= python3
CC ?= cc
PKGS := openblas libwebsockets msgpack openssl
CFLAGS ?= -std=c11 -O3 -fno-math-errno -g -Wall -Wextra -Wpedantic -D_POSIX_C_SOURCE=200809L
CORE_DIRS := base anonymize estimate stream
CORE_SRC := $(foreach d,$(CORE_DIRS),$(wildcard csrc/$(d)/*.c))
CORE_H := $(wildcard csrc/include/*.h $(CORE_DIRS:%=csrc/%/*.h))
TEST_SRC := $(wildcard csrc/tests/*.c)

.PHONY: test test-c test-py
test: test-c test-py

csrc/tests/run_tests: $(CORE_SRC) $(TEST_SRC) $(CORE_H) $(wildcard csrc/tests/*.h)
	$(CC) $(CFLAGS) $(SANITIZE) -Icsrc/include -Icsrc $(shell pkg-config --cflags $(PKGS)) \
		-o $@ $(CORE_SRC) $(TEST_SRC) $(shell pkg-config --libs $(PKGS)) -lm

test-c: csrc/tests/run_tests
	cd csrc/tests && ./run_tests

# the server's tests first on servers of 2 service threads, then everything
test-py:
	MOJOFER_SERVER_THREADS=2 $(PYTHON) -m pytest -q tests/test_server.py
	$(PYTHON) -m pytest -q tests

# ---- sanitizers and fuzzing (clang-14 and its runtimes: Debian's clang-14
# and libclang-rt-14-dev) ------------------------------------------------------
SAN_CC ?= clang-14
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS := -std=c11 -O1 -g -D_POSIX_C_SOURCE=200809L -Icsrc/include -Icsrc \
	$(shell pkg-config --cflags $(PKGS))
SAN_LIBS := $(shell pkg-config --libs $(PKGS)) -lm
FUZZ_SECONDS ?= 60
FUZZERS := wire model image
# the copy in build/sanitize no longer sits beside ../shared/data: named
SAN_DATA := $(or $(MOJOFER_DATA),$(wildcard $(abspath ../shared/data)))

.PHONY: sanitize sanitize-c sanitize-py fuzz
sanitize: sanitize-c sanitize-py

csrc/tests/run_tests_sanitized: $(CORE_SRC) $(TEST_SRC) $(CORE_H) $(wildcard csrc/tests/*.h)
	$(SAN_CC) $(SAN_CFLAGS) $(SAN_FLAGS) -o $@ $(CORE_SRC) $(TEST_SRC) $(SAN_LIBS)

sanitize-c: csrc/tests/run_tests_sanitized
	cd csrc/tests && ./run_tests_sanitized

# pytest on an extension built with the sanitizers. Python itself is not
# instrumented, so the ASan runtime must be loaded first (LD_PRELOAD; it
# holds UBSan's handlers too) and its leak check is off (the interpreter
# keeps its memory at exit). The extension is built in a copy of the tree,
# build/sanitize, so the working tree's own extension stays as it was.
sanitize-py:
	rm -rf build/sanitize && mkdir -p build/sanitize
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t build/sanitize
	cd build/sanitize && CC=$(SAN_CC) LDSHARED="$(SAN_CC) -shared" CFLAGS="$(SAN_FLAGS)" \
		LDFLAGS="$(SAN_FLAGS) -shared-libsan" $(PYTHON) setup.py build_ext --inplace -q
	cd build/sanitize && LD_PRELOAD=$$($(SAN_CC) -print-file-name=libclang_rt.asan-x86_64.so) \
		ASAN_OPTIONS=detect_leaks=0 $(if $(SAN_DATA),MOJOFER_DATA=$(SAN_DATA)) PYTHONPATH=$$PWD \
		$(PYTHON) -m pytest -q tests

# libFuzzer harnesses (csrc/fuzz/), each run FUZZ_SECONDS from its seeds
csrc/fuzz/fuzz_%: csrc/fuzz/fuzz_%.c $(CORE_SRC) $(CORE_H)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer $(SAN_FLAGS) -o $@ $< $(CORE_SRC) $(SAN_LIBS)

fuzz: $(FUZZERS:%=csrc/fuzz/fuzz_%)
	csrc/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

# ---- the anonymizer in WebAssembly (docs/wasm.md) ----------------------------
# base/ (less version.c, which names the native libraries) and anonymize/,
# with csrc/wasm's portable BLAS in OpenBLAS's place; Debian's emcc finds
# its acorn through NODE_PATH. The outputs are committed: `make wasm`
# reproduces them byte for byte.
EMCC ?= emcc
comma := ,
space := $(subst ,, )
WASM_SRC := $(filter-out csrc/base/version.c,$(wildcard csrc/base/*.c)) \
	$(wildcard csrc/anonymize/*.c) csrc/wasm/portable_blas.c
WASM_EXPORTS := mf_model_from_memory mf_model_free mf_status_str mf_limits_default \
	mf_detect_params_default mf_detector_new mf_detector_free mf_detect \
	mf_landmarker_new mf_landmarker_free mf_landmarks_from_box mf_landmarks_from_points \
	malloc free
WASM_FLAGS := -std=c11 -O3 -msimd128 -fno-math-errno -D_POSIX_C_SOURCE=200809L \
	-Icsrc/wasm -Icsrc/include -Icsrc \
	-sMODULARIZE=1 -sEXPORT_NAME=createMojoferAnonymize -sENVIRONMENT=web,worker,node \
	-sALLOW_MEMORY_GROWTH=1 -sFILESYSTEM=0 -sNODEJS_CATCH_EXIT=0 -sNODEJS_CATCH_REJECTION=0 \
	-sEXPORTED_FUNCTIONS=$(subst $(space),$(comma),$(WASM_EXPORTS:%=_%))

.PHONY: wasm portable test-wasm
wasm: web/mojofer-anonymize.js

web/mojofer-anonymize.js: $(WASM_SRC) $(CORE_H) csrc/wasm/cblas.h Makefile
	NODE_PATH=/usr/share/nodejs $(EMCC) $(WASM_FLAGS) -o $@ $(WASM_SRC)
	chmod a-x web/mojofer-anonymize.wasm  # emcc marks it executable

# the extension with the portable BLAS (setup.py's MOJOFER_PORTABLE_BLAS) in
# a copy of the tree, build/portable, as sanitize-py builds its own
portable:
	rm -rf build/portable && mkdir -p build/portable
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t build/portable
	cd build/portable && MOJOFER_PORTABLE_BLAS=1 $(PYTHON) setup.py build_ext --inplace -q

test-wasm:
	$(PYTHON) -m pytest -q -m wasm tests/test_wasm.py
