# `make test` is the project's one test command: C unit tests, then pytest.
PYTHON ?= python3
CC ?= cc
PKGS := openblas libwebsockets msgpack openssl
CFLAGS ?= -std=c11 -O3 -fno-math-errno -g -Wall -Wextra -Wpedantic -D_POSIX_C_SOURCE=200809L
CORE_SRC := $(wildcard csrc/*.c)
TEST_SRC := $(wildcard csrc/tests/*.c)

.PHONY: test test-c test-py
test: test-c test-py

csrc/tests/run_tests: $(CORE_SRC) $(TEST_SRC) $(wildcard csrc/*.h csrc/include/*.h csrc/tests/*.h)
	$(CC) $(CFLAGS) $(SANITIZE) -Icsrc/include -Icsrc $(shell pkg-config --cflags $(PKGS)) \
		-o $@ $(CORE_SRC) $(TEST_SRC) $(shell pkg-config --libs $(PKGS)) -lm

test-c: csrc/tests/run_tests
	cd csrc/tests && ./run_tests

test-py:
	$(PYTHON) -m pytest -q tests
