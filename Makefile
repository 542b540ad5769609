# Yamori — the one, non-recursive Makefile.
#
#   make            build everything (release flags) into build/rel
#   make SAN=1      the same with ASan + UBSan into build/san (the tests use it)
#   make run        install missing packages, build, start Yamori on this machine
#   make test       install missing packages, build with sanitizers, run every test
#   make bench      build release binaries and run the benchmarks under bench/
#
# Sources are found per module directory: a new .c file in src/<module>/ is
# built into that module's static library without touching this file. Tests
# are tests/<suite>/test_*.c, one binary each, linked against every library.

VERSION     := 0.1.0
BUILD       ?= build
SAN         ?= 0
CC          ?= gcc
CLANG       ?= clang
LLVM_STRIP  ?= llvm-strip
BPFTOOL     ?= bpftool
PKG_CONFIG  ?= pkg-config
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' -e 's/riscv64/riscv/' -e 's/s390x/s390/')

ifeq ($(SAN),1)
O := $(BUILD)/san
MODE_CFLAGS  := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
MODE_LDFLAGS := -fsanitize=address,undefined
else
O := $(BUILD)/rel
MODE_CFLAGS  := -O2 -D_FORTIFY_SOURCE=2
MODE_LDFLAGS :=
endif
B := $(BUILD)/bpf

# Libraries every binary may use; each is named and justified in docs/decisions.md.
PKGS := libbpf libelf zlib libcrypto libsystemd jansson yaml-0.1 libpcre2-8 \
        libmicrohttpd gnutls libcurl sqlite3 libzstd libsodium libnftables libarchive

# the antivirus scanner's engines (docs/decisions.md, "Antivirus engines")
PKGS += yara libclamav
PKGS += libedit # the `yamori live` prompt (docs/decisions.md, "Dependencies")

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wvla -Wpointer-arith -Wcast-align -Wwrite-strings \
            -Wno-unused-parameter -Wno-missing-field-initializers
HARDEN   := -fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE
CFLAGS   ?= -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(MODE_CFLAGS) $(WARNINGS) $(HARDEN) \
              -Isrc -Ibpf -I$(B) -Itests/lib -DYAMORI_VERSION='"$(VERSION)"' \
              $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := -pie -Wl,-z,relro,-z,now,-z,noexecstack -Wl,--as-needed $(MODE_LDFLAGS) $(LDFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm

# ---------------------------------------------------------------- modules
COMMON_SRC := $(wildcard src/common/*.c)
AGENT_SRC  := $(filter-out src/agent/main.c,$(wildcard src/agent/*.c))
DETECT_SRC := $(wildcard src/detect/*.c)
KQL_SRC    := $(wildcard src/kql/*.c)
SERVER_SRC := $(wildcard src/server/*.c)
CLI_SRC    := $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))
TESTLIB_SRC := $(wildcard tests/lib/*.c)

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

LIB_COMMON  := $(O)/libyamcommon.a
LIB_AGENT   := $(O)/libyamagent.a
LIB_DETECT  := $(O)/libyamdetect.a
LIB_KQL     := $(O)/libyamkql.a
LIB_TEST    := $(O)/libyamtest.a
LIB_SERVER  := $(O)/libyamserver.a
LIB_CLI     := $(O)/libyamcli.a
LIBS := $(LIB_CLI) $(LIB_SERVER) $(LIB_AGENT) $(LIB_DETECT) $(LIB_KQL) $(LIB_COMMON)

BPF_SRC   := $(wildcard bpf/*.bpf.c)
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(B)/%.skel.h,$(BPF_SRC))

AGENT_BIN := $(O)/yamori-agent
# The server and CLI modules register themselves in linker sections, so the
# yamori binary links their objects directly (an archive would drop the
# ones nothing refers to).
YAMORI_BIN := $(O)/yamori

TEST_SRC  := $(wildcard tests/*/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(O)/tests/%,$(TEST_SRC))

BENCH_SRC  := $(wildcard bench/*/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(O)/bench/%,$(BENCH_SRC))

HELPER_SRC  := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(patsubst tests/helpers/%.c,$(O)/helpers/%,$(HELPER_SRC))

.PHONY: all deps run test tests test-binaries bench clean install
.SECONDARY:
all: $(AGENT_BIN) $(YAMORI_BIN) $(TEST_BINS) $(BENCH_BINS) $(HELPER_BINS)

deps:
	@sh scripts/deps.sh

# ---------------------------------------------------------------- BPF pipeline
# vmlinux.h is generated from the running kernel's BTF (see docs/decisions.md);
# CO-RE relocations make the object portable to other kernels with BTF.
$(B)/vmlinux.h:
	@mkdir -p $(B)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	mv $@.tmp $@

$(B)/%.bpf.o: bpf/%.bpf.c $(B)/vmlinux.h $(wildcard bpf/*.h)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
	    -I$(B) -Ibpf -c $< -o $@
	$(LLVM_STRIP) -g $@

$(B)/%.skel.h: $(B)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp
	mv $@.tmp $@

# ---------------------------------------------------------------- C objects
$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# the agent's objects include the skeletons
$(call obj,$(AGENT_SRC) src/agent/main.c): $(BPF_SKELS)

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
$(LIB_AGENT):  $(call obj,$(AGENT_SRC))
$(LIB_DETECT): $(call obj,$(DETECT_SRC))
$(LIB_KQL):    $(call obj,$(KQL_SRC))
$(LIB_TEST):   $(call obj,$(TESTLIB_SRC))
$(LIB_SERVER): $(call obj,$(SERVER_SRC))
$(LIB_CLI):    $(call obj,$(CLI_SRC))
$(O)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	$(if $^,ar rcs $@ $^,ar rcs $@)

$(AGENT_BIN): $(call obj,src/agent/main.c) $(LIB_AGENT) $(LIB_COMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(YAMORI_BIN): $(call obj,src/cli/main.c $(CLI_SRC) $(SERVER_SRC)) $(LIB_AGENT) $(LIB_DETECT) $(LIB_KQL) $(LIB_COMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: $(call obj,tests/%.c) $(LIB_TEST) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/bench/%: $(call obj,bench/%.c) $(LIB_TEST) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/helpers/%: $(call obj,tests/helpers/%.c)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# ---------------------------------------------------------------- entry points
# Yamori on this machine: the server, a logged-in CLI for root and the local
# agent (`yamori up`; Ctrl-C stops them).
run: deps
	@$(MAKE) --no-print-directory SAN=0 $(BUILD)/rel/yamori-agent $(BUILD)/rel/yamori
	$(BUILD)/rel/yamori up

test-binaries: $(AGENT_BIN) $(YAMORI_BIN) $(TEST_BINS) $(HELPER_BINS)

tests: deps
	@$(MAKE) --no-print-directory SAN=1 test-binaries
	@$(MAKE) --no-print-directory SAN=0 $(BUILD)/rel/yamori-agent $(BUILD)/rel/yamori

test: tests
	@tests/run $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory SAN=0 all
	@for b in bench/*/run; do [ -x "$$b" ] && "$$b" $(BUILD)/rel || true; done

# Installs the binaries, the rule pack and the agent's systemd unit under $(DESTDIR); it
# enables and starts nothing (docs/agent.md: enroll, then systemctl enable).
PREFIX      ?= /usr/local
UNITDIR     ?= /etc/systemd/system
install: $(BUILD)/rel/yamori-agent $(BUILD)/rel/yamori
	install -D -m 0755 $(BUILD)/rel/yamori-agent $(DESTDIR)$(PREFIX)/sbin/yamori-agent
	install -D -m 0755 $(BUILD)/rel/yamori $(DESTDIR)$(PREFIX)/bin/yamori
	@# the rule pack, where the server looks for it (docs/configuration.md, rules_dir)
	find rules -name '*.yml' -type f | while read -r f; do \
	    install -D -m 0644 "$$f" "$(DESTDIR)$(PREFIX)/share/yamori/$$f" || exit 1; done
	@# the antivirus YARA rules, where the agent looks for them (docs/agent.md, "Antivirus scan")
	for f in rules/yara/*.yar rules/yara/README.md; do \
	    install -D -m 0644 "$$f" "$(DESTDIR)$(PREFIX)/share/yamori/yara/$${f##*/}" || exit 1; done
	@mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|^ExecStart=/usr/local/sbin/yamori-agent|ExecStart=$(PREFIX)/sbin/yamori-agent|' \
	    packaging/yamori-agent.service > $(DESTDIR)$(UNITDIR)/yamori-agent.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/yamori-agent.service.tmp
	mv $(DESTDIR)$(UNITDIR)/yamori-agent.service.tmp $(DESTDIR)$(UNITDIR)/yamori-agent.service

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
