# flowd - one hand-written Makefile. Targets: all (build/flowd, build/flowctl), run, test,
# unit, e2e, asan, ubsan, deps, clean. BUILD selects the output directory so sanitizer
# builds do not mix with the normal one.

BUILD   ?= build
CC      ?= cc
PKGS    := jansson yaml-0.1 libmicrohttpd sqlite3 libpq libcrypto libcurl libxml-2.0
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wwrite-strings -Wno-format-nonliteral \
           -Wno-format-truncation
OPT     ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iinclude -Isrc $(SAN) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
LDFLAGS += $(SAN)

MODS    := base spec store engine auth api server
LIB_SRC := $(foreach m,$(filter-out server,$(MODS)),$(wildcard src/$(m)/*.c)) \
           $(filter-out src/server/main.c,$(wildcard src/server/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
CLI_DEP := $(wildcard src/base/*.c) src/auth/sign_v1.c src/auth/sign_v3.c
UNIT_SRC:= $(wildcard tests/unit/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

all: $(BUILD)/flowd $(BUILD)/flowctl

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/flowd: $(call obj,$(LIB_SRC) src/server/main.c)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/flowctl: $(call obj,$(CLI_SRC) $(CLI_DEP))
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit_tests: $(call obj,$(LIB_SRC) $(UNIT_SRC))
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz targets (tests/fuzz/fuzz_*.c) replayed over the committed corpus with gcc in make
# test; `make fuzz` runs them under libFuzzer with clang.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(if $(FUZZ_SRC),$(BUILD)/fuzz_replay)

$(BUILD)/fuzz_replay: $(call obj,$(LIB_SRC) $(FUZZ_SRC) tests/fuzz/replay_main.c)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# make fuzz: every target as its own libFuzzer binary in build-fuzz/ (clang; the library is
# instrumented with fuzzer-no-link, the link adds libFuzzer's main). clang does not know
# gcc's -Wno-format-truncation, hence -Wno-unknown-warning-option. Then runs each target for
# FUZZ_SECONDS (default 60) with scripts/fuzz.sh; new inputs stay in build-fuzz/.
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer -Wno-unknown-warning-option -DFL_LIBFUZZER
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPT="-O1 -g" SAN="$(FUZZ_SAN)" \
	    $(FUZZ_BINS)
	@scripts/fuzz.sh

build-fuzz/fuzz_%: build-fuzz/obj/tests/fuzz/fuzz_%.o $(call obj,$(LIB_SRC))
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@scripts/deps.sh build

# make run ARGS="--listen 127.0.0.1:9000" passes extra flags to flowd.
run: deps all
	@scripts/run.sh $(ARGS)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests $(T)

e2e: all
	@scripts/e2e.sh $(BUILD)

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory all $(BUILD)/unit_tests $(FUZZ_REPLAY)
	@scripts/test.sh $(BUILD)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    build-asan/unit_tests

ubsan:
	@$(MAKE) --no-print-directory BUILD=build-ubsan OPT="-O1 -g" \
	    SAN="-fsanitize=undefined -fno-sanitize-recover=all" all build-ubsan/unit_tests

clean:
	rm -rf build build-asan build-ubsan build-fuzz

.PHONY: all deps run unit e2e test asan ubsan clean fuzz

# Crash-consistency harness (tests/crash/crash.js): CRASH_SECONDS of mixed load while flowd is
# SIGKILLed and restarted every 0.3-2 s, then every acknowledged write is checked.
# CRASH_ARGS passes more options (--concurrency, --kill-min-ms, --kill-max-ms, --seed, --data).
# With FLOWD_TEST_PG set it runs on PostgreSQL; CRASH_ARGS="--nodes 3" then runs three nodes
# on one database, a random one killed and restarted each time.
CRASH_SECONDS ?= 600
crash: all
	@[ -d tests/e2e/node_modules ] || (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
	node tests/crash/crash.js --flowd $(BUILD)/flowd --seconds $(CRASH_SECONDS) --concurrency 16 \
	    --kill-min-ms 300 --kill-max-ms 2000 $(CRASH_ARGS)

.PHONY: crash

# Benchmarks (bench/README.md): every named scenario against a fresh flowd, one result line
# each, figures in bench/results.json. BENCH_N, BENCH_C, BENCH_WAITING, BENCH_SKIP_1M=1,
# BENCH_MIXED_SECS and BENCH_SCENARIOS tune it. bench-smoke runs them all with small sizes
# (no timing assertions) and exits non-zero on any error or failed check; with FLOWD_TEST_PG
# set it also runs them on PostgreSQL with two nodes. bench-pg runs the scenarios on
# PostgreSQL with one node, then two (FLOWD_TEST_PG, or a scratch cluster of its own),
# figures in bench/results-pg-1n.json and bench/results-pg-2n.json.
BENCH_BINS = FLOWD=$(BUILD)/flowd CBBENCH=$(BUILD)/bench/cbbench BASELINE=$(BUILD)/bench/baseline

bench: all
	@$(MAKE) --no-print-directory -C bench BUILD=$(abspath $(BUILD))/bench all
	@$(BENCH_BINS) bench/bench.sh

bench-pg: all
	@$(MAKE) --no-print-directory -C bench BUILD=$(abspath $(BUILD))/bench all
	@$(BENCH_BINS) bench/bench-pg.sh

bench-smoke: all
	@$(MAKE) --no-print-directory -C bench BUILD=$(abspath $(BUILD))/bench all
	@rc=0; $(BENCH_BINS) BENCH_SMOKE=1 bench/bench.sh || rc=1; \
	if [ -n "$$FLOWD_TEST_PG" ]; then \
	    $(BENCH_BINS) BENCH_SMOKE=1 BENCH_PG="$$FLOWD_TEST_PG" BENCH_NODES=2 bench/bench.sh || rc=1; \
	fi; exit $$rc

.PHONY: bench bench-pg bench-smoke
