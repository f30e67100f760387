# sluice - one non-recursive Makefile. `make help` lists the targets.
#   SANITIZE=address,undefined | thread   build into build-asan/ or build-tsan/
#   V=1                                    show the commands

VERSION    := 0.1.0
PKG_CONFIG ?= pkg-config
PKGS       := inih zlib libzstd jansson libmicrohttpd libsystemd libcrypto libcurl libpq \
              rdkafka
PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc

# Every src/*.c but main.c is linked into the daemon, the unit tests, the
# S3 tests' proxy and the fuzz harnesses: a new module needs no edit here.
# Nothing depends on the order (sorted, for reproducible links).
MAIN := src/main.c
SRC  := $(filter-out $(MAIN),$(sort $(wildcard src/*.c)))
UNIT := $(wildcard tests/unit/*.c)

ifeq ($(SANITIZE),)
  BUILD := build
else ifeq ($(SANITIZE),thread)
  BUILD := build-tsan
  SANFLAGS := -fsanitize=thread
else
  BUILD := build-asan
  SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

OPT      ?= -O2
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wformat=2 -Wvla \
            -Wno-format-truncation -Wno-format-nonliteral
HARDEN   := -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2
CFLAGS   += -std=gnu11 -g $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) -pthread -MMD -MP \
            -D_GNU_SOURCE -Iinclude -Isrc -DSL_VERSION='"$(VERSION)"' $(shell $(PKG_CONFIG) --cflags $(PKGS))
LDFLAGS  += -pie -Wl,-z,relro,-z,now $(SANFLAGS) -pthread
LDLIBS   += $(shell $(PKG_CONFIG) --libs $(PKGS))
TESTLIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

OBJ      := $(SRC:src/%.c=$(BUILD)/%.o)
UNIT_OBJ := $(UNIT:tests/unit/%.c=$(BUILD)/tests/%.o)

ifneq ($(V),1)
  Q := @
  say = @printf '  %-6s %s\n' $(1) $(2);
endif

.PHONY: all run test check unit integration asan tsan bench profile lint docs install clean deps help \
        fuzz fuzz-regress

# A plain `make` only builds. The targets that install what is missing
# (scripts/deps.sh: run, test, check, unit, integration, asan, tsan, bench,
# fuzz, deps) run it first, then build in a sub-make, whose pkg-config
# flags are read after the install.
all: $(BUILD)/sluice $(BUILD)/transform_upper.so

deps:
	$(Q)scripts/deps.sh

$(BUILD)/sluice: $(OBJ) $(BUILD)/main.o
	$(call say,LINK,$@) $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Transform plugins: the example users copy (examples/), and, for the tests,
# one built for another ABI. Built against include/ only, as users build theirs.
PLUGIN_HDR := include/sluice/transform.h include/sluice/record.h
$(BUILD)/transform_upper.so: examples/transform_upper.c $(PLUGIN_HDR) | $(BUILD)
	$(call say,CC,$@) $(CC) -std=gnu11 -g $(OPT) $(WARN) $(SANFLAGS) -shared -fPIC -Iinclude \
	    -o $@ $<
$(BUILD)/transform_badabi.so: tests/tools/transform_badabi.c $(PLUGIN_HDR) | $(BUILD)
	$(call say,CC,$@) $(CC) -std=gnu11 -g $(OPT) $(SANFLAGS) -shared -fPIC -Iinclude -o $@ $<

LOADGEN := bench/loadgen.c bench/gen.c bench/reader.c bench/verify.c bench/watch.c
$(BUILD)/loadgen: $(LOADGEN) bench/loadgen.h bench/gen.h | $(BUILD)
	$(call say,LINK,$@) $(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(LOADGEN) \
	    $$(pkg-config --libs zlib libzstd jansson libcrypto) -lpthread

# The S3 tests' signature-checking front for s3rver (tests/tools/sigv4_proxy.c).
$(BUILD)/sigv4-proxy: tests/tools/sigv4_proxy.c $(OBJ) | $(BUILD)
	$(call say,LINK,$@) $(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(OBJ) $(LDLIBS)

# The Kafka tests' cluster: librdkafka's mock in a process of its own
# (tests/tools/kafka_mock.c; tests/integration/kafka.py drives it).
$(BUILD)/kafka-mock: tests/tools/kafka_mock.c | $(BUILD)
	$(call say,LINK,$@) $(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $$($(PKG_CONFIG) --libs rdkafka)

# Fuzzing (tests/fuzz/, docs/testing-fuzz.md). `make fuzz`: each target
# under libFuzzer for FUZZ_S seconds (clang, ASan+UBSan, into build-fuzz/);
# `make fuzz-regress`: every saved corpus and crash input once, through the
# same harnesses built with $(CC) and a plain main() into $(BUILD)/fuzz/.
FUZZ_T      := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_S      ?= 60
FUZZ_CC     ?= clang
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=all -pthread -MMD -MP -D_GNU_SOURCE -Iinclude -Isrc \
               -DSL_VERSION='"$(VERSION)"' $(shell $(PKG_CONFIG) --cflags $(PKGS))
FUZZ_OBJ    := $(SRC:src/%.c=build-fuzz/obj/%.o)
FUZZ_BIN    := $(FUZZ_T:%=build-fuzz/fuzz_%)
REGRESS_BIN := $(FUZZ_T:%=$(BUILD)/fuzz/%)

build-fuzz/obj/%.o: src/%.c | build-fuzz/obj
	$(call say,CLANG,$<) $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ) | build-fuzz/obj
	$(call say,FUZZ,$@) $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
	    $(LDLIBS) -ldl
$(BUILD)/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/standalone.c $(OBJ) | $(BUILD)/fuzz
	$(call say,LINK,$@) $(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/standalone.c $(OBJ) \
	    $(LDLIBS) -ldl
build-fuzz/obj $(BUILD)/fuzz:
	$(Q)mkdir -p $@
.SECONDARY: $(FUZZ_OBJ)
-include $(FUZZ_OBJ:.o=.d) $(FUZZ_BIN:=.d) $(REGRESS_BIN:=.d)

fuzz:
	$(Q)scripts/deps.sh fuzz
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BIN)
	$(Q)FUZZ_S=$(FUZZ_S) scripts/fuzz.sh run $(FUZZ_T)

fuzz-regress:
	$(Q)$(MAKE) --no-print-directory $(REGRESS_BIN)
	$(Q)BUILD=$(BUILD) scripts/fuzz.sh regress $(FUZZ_T)

$(BUILD)/unit-tests: $(OBJ) $(UNIT_OBJ)
	$(call say,LINK,$@) $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TESTLIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(call say,CC,$<) $(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c | $(BUILD)/tests
	$(call say,CC,$<) $(CC) $(CFLAGS) -c -o $@ $<

$(BUILD) $(BUILD)/tests:
	$(Q)mkdir -p $@

-include $(OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(BUILD)/main.d

run:
	$(Q)scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)mkdir -p var
	./$(BUILD)/sluice -c conf/sluice.conf

# What the integration tests run: the daemon, loadgen, the S3 tests' SigV4
# proxy, the Kafka mock cluster and the transform plugins.
INTEGRATION_BIN := $(BUILD)/sluice $(BUILD)/loadgen $(BUILD)/sigv4-proxy $(BUILD)/kafka-mock \
                   $(BUILD)/transform_upper.so $(BUILD)/transform_badabi.so
RUN_TESTS = $(Q)BUILD=$(BUILD) SANITIZE=$(SANITIZE) scripts/run-tests.sh

# Everything: unit tests, fuzz regression inputs, lint, the systemd unit,
# then the integration tests against the real daemon. Prints one
# "N passed, N failed" line at the end; non-zero if anything failed.
test check:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory $(BUILD)/unit-tests $(INTEGRATION_BIN) $(REGRESS_BIN)
	$(RUN_TESTS)

# One part each, with the same summary line. FILTER=substring narrows
# `make integration` (and `make test`) to the matching integration tests.
unit:
	$(Q)scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory $(BUILD)/unit-tests
	$(RUN_TESTS) unit

integration:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory $(INTEGRATION_BIN)
	$(RUN_TESTS) integration

asan:
	$(Q)$(MAKE) --no-print-directory test SANITIZE=address,undefined OPT=-O1

tsan:
	$(Q)$(MAKE) --no-print-directory test SANITIZE=thread OPT=-O1

bench:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/loadgen $(BUILD)/kafka-mock
	$(Q)BUILD=$(BUILD) python3 bench/bench.py

# The bench's scenarios with the daemon under `perf record --call-graph
# dwarf`, and the top of each profile (bench/perf_top.py; docs/performance.md).
PROFILE_DIR ?= $(BUILD)/profile
profile:
	$(Q)command -v perf >/dev/null || { echo "profile: perf missing (linux-perf)"; exit 1; }
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/loadgen
	$(Q)BUILD=$(BUILD) PERF=$(PROFILE_DIR) \
	    SCENARIOS="$(or $(SCENARIOS),tcp-none tcp-zstd firehose-zstd)" python3 bench/bench.py

lint:
	$(Q)scripts/lint.sh

# docs/configuration.md's key tables, from the key tables (a test checks it).
docs: $(BUILD)/sluice
	$(Q)python3 scripts/gendocs.py $(BUILD)/sluice

install: all
	install -Dm755 $(BUILD)/sluice $(DESTDIR)$(PREFIX)/bin/sluice
	install -Dm644 conf/sluice.conf $(DESTDIR)/etc/sluice/sluice.conf
	install -Dm644 include/sluice/transform.h $(DESTDIR)$(PREFIX)/include/sluice/transform.h
	install -Dm644 include/sluice/record.h $(DESTDIR)$(PREFIX)/include/sluice/record.h
	install -Dm755 $(BUILD)/transform_upper.so $(DESTDIR)$(PREFIX)/lib/sluice/transform_upper.so
	sed 's|@BINDIR@|$(PREFIX)/bin|' systemd/sluice.service > $(BUILD)/sluice.service
	install -Dm644 $(BUILD)/sluice.service $(DESTDIR)/lib/systemd/system/sluice.service

clean:
	rm -rf build build-asan build-tsan build-fuzz var

help:
	@echo "targets: all run test check unit integration asan tsan bench profile lint docs install" \
	      "clean deps fuzz fuzz-regress"
