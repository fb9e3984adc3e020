# Ward - GNU make + pkg-config.  `make help` lists the targets.
#
# Build output goes to $(B) (default build/).  `make check` runs every test
# suite, then runs them all again built with ASan+UBSan in build/asan.

B        ?= build
PREFIX   ?= /usr
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
INCDIR   ?= $(PREFIX)/include
LIBDIR   ?= $(PREFIX)/lib
SYSCONFDIR ?= /etc
PAMDIR   ?= $(shell pkg-config --variable=libdir pam 2>/dev/null || echo /lib/x86_64-linux-gnu)/security
UNITDIR  ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
DESTDIR  ?=

CC       ?= cc
PKGS     := libconfig liboath lmdb libqrencode openssl ldap
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -llber

WARN     := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wnull-dereference -Wwrite-strings
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC
ifdef CI
WARN     += -Werror
endif
OPT      ?= -O2 -g
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) \
              -Ilib -Ipolicy -Itests/common -Ibench/common $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL := -Wl,-z,relro,-z,now,-z,noexecstack $(EXTRA_LDFLAGS)

ifdef SAN
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS_ALL := $(filter-out -D_FORTIFY_SOURCE=2,$(CFLAGS_ALL)) -O1 $(SANFLAGS)
LDFLAGS_ALL += $(SANFLAGS)
endif

LIB_SRC    := $(wildcard lib/*.c)
POLICY_SRC := $(wildcard policy/*.c)
ADMIN_SRC  := $(wildcard admin/*.c)
DAEMON_SRC := $(wildcard daemon/*.c)
# only wardd links libsystemd (socket activation, readiness)
SD_CFLAGS  := $(shell pkg-config --cflags libsystemd 2>/dev/null)
SD_LIBS    := $(shell pkg-config --libs libsystemd 2>/dev/null)
MOD_SRC    := $(wildcard pam_module/*.c)
# the module is a thin client: its own objects and the protocol, libpam, libc
MOD_OBJ     = $(call obj,$(MOD_SRC) lib/wire.c lib/ward.c)
CORE_OBJ   := $(B)/obj/daemon/core.o $(B)/obj/daemon/core_fleet.o
TESTCOMMON_SRC := $(wildcard tests/common/*.c)
# tests/common may be empty: keep the archive valid with one object.
TESTCOMMON_SRC += tests/fuzz/empty.c
# tests/common drives phases with the module's client side
TESTCOMMON_SRC += pam_module/client.c

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBWARD    := $(B)/libward.a
LIBPOLICY  := $(B)/libwardpolicy.a
MODULE     := $(B)/pam_ward.so
WARDCTL    := $(B)/wardctl
WARDD      := $(B)/wardd
TESTCOMMON := $(B)/libwardtest.a

UNIT_TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
PAM_TESTS  := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/pam/test_*.c))
DIR_TESTS  := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/dir/test_*.c))
DAEMON_TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/daemon/test_*.c))
TOOLS      := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/tools/*.c))
BENCHES    := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(B)/tests/fuzz/replay_%,$(wildcard tests/fuzz/fuzz_*.c))
# tests/security: the threat table of THREATS.md.
SEC_TESTS  := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/security/test_*.c))
# tests/fault: every wrapped call failing in turn across a PAM transaction.
FAULT_TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/fault/test_*.c))
# tests/clients: sshd, sudo, su and a screen locker, end to end, in a
# private mount namespace (as root).
CLIENT_TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/clients/test_*.c))
# tests/fleet_audit: per-host audit keys, verify --fleet's tamper table, and
# forwarding through two real rsyslogd over TLS on loopback (as root).
FLEET_AUDIT_TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/fleet_audit/test_*.c))
# tests/fleet: fleet mode's operations on a replicated slapd (tests/fleet/pair.sh).
FLEET_TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/fleet/test_*.c))
ALL_TESTS  := $(UNIT_TESTS) $(PAM_TESTS) $(DIR_TESTS) $(DAEMON_TESTS) $(SEC_TESTS) $(FUZZ_REPLAY) $(FAULT_TESTS) $(CLIENT_TESTS) $(FLEET_AUDIT_TESTS) $(FLEET_TESTS)

.PHONY: all deps check check-one benches check-asan demo bench fuzz install clean help tests \
        deb deb-deps check-packages

SAMPLE     := $(B)/ehr-sample

PROGRAMS   := $(WARDCTL) $(WARDD) $(MODULE) $(SAMPLE)

all: $(LIBWARD) $(LIBPOLICY) $(PROGRAMS)

help:
	@echo "make            build pam_ward.so, wardd, wardctl into $(B)/"
	@echo "make check      install missing Debian packages, run every test suite,"
	@echo "                then again under ASan+UBSan"
	@echo "make demo       the main job, as a story (installs packages first)"
	@echo "make bench      benchmarks against pam_oath, pam_google_authenticator, pam_access"
	@echo "make fuzz       build and run the libFuzzer targets (clang)"
	@echo "make install    DESTDIR=... PREFIX=/usr"
	@echo "make deb        Debian packages into $(B)/deb/ (installs the packaging tools first)"
	@echo "make check-packages  lintian, piuparts and a login from the installed packages"
	@echo "                in a Debian 12 chroot (root, the Debian mirror; minutes)"
	@echo "make clean"

deps:
	@contrib/install-deps.sh --check 2>/dev/null || { \
	  echo "Some Debian packages are missing; running contrib/install-deps.sh:"; \
	  echo "----"; cat contrib/install-deps.sh | sed -n '/^PKGS=/,/^$$/p'; echo "----"; \
	  contrib/install-deps.sh; }

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIBWARD): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBPOLICY): $(call obj,$(POLICY_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The module exports only pam_sm_* (version script); everything else hidden.
# It links libpam and libc only (tests/static/layering.sh checks readelf -d).
$(call obj,$(MOD_SRC)): CFLAGS_ALL += -fvisibility=hidden
$(MODULE): $(MOD_OBJ) pam_module/pam_ward.map
	$(CC) -shared -o $@ $(MOD_OBJ) \
	  -Wl,--version-script=pam_module/pam_ward.map -Wl,--as-needed $(LDFLAGS_ALL) -lpam

# Where the tests stage what user nobody runs (the module): under /var/tmp,
# one folder per build folder, because nobody must reach it whatever folder
# the sources are in (/root is 0700 on Debian).
TEST_STAGE_ROOT := /var/tmp/ward-tests-$(shell printf '%s' '$(abspath $(B))' | md5sum | cut -c1-12)/stage

# wardctl shares core.o (no PAM in it) with wardd: the policy load, role
# resolution, the group-to-role mapping, verification.
$(WARDCTL): $(call obj,$(ADMIN_SRC)) $(CORE_OBJ) $(LIBWARD) $(LIBPOLICY)
	$(CC) -pie -o $@ $(call obj,$(ADMIN_SRC)) $(CORE_OBJ) $(LIBPOLICY) $(LIBWARD) $(LDFLAGS_ALL) $(PKG_LIBS)

# wardd: the flow engine, core.o (shared with wardctl), and it alone links
# libsystemd.
$(call obj,$(DAEMON_SRC)): CFLAGS_ALL += $(SD_CFLAGS)
$(call obj,$(wildcard tests/daemon/*.c) $(wildcard tests/common/*.c)): CFLAGS_ALL += -Ipam_module
$(WARDD): $(call obj,$(DAEMON_SRC)) $(LIBWARD) $(LIBPOLICY)
	$(CC) -pie -o $@ $(call obj,$(DAEMON_SRC)) $(LIBPOLICY) $(LIBWARD) $(LDFLAGS_ALL) $(PKG_LIBS) $(SD_LIBS) -lpthread

# The sample clinical app links only the policy engine (and libpam).
$(SAMPLE): $(call obj,contrib/sample-app/ehr_sample.c) $(LIBPOLICY)
	$(CC) -pie -o $@ $< $(LIBPOLICY) $(LDFLAGS_ALL) $(PKG_LIBS) -lpam -lpam_misc

# The fault-injection daemon, for tests/fault only (never installed):
# wardd's objects linked again with each call in FAULT_WRAP going through
# tests/fault/fault_wrap.c, which makes the Nth call fail.
FAULT_WARDD := $(B)/tests/fault/wardd_fault
FAULT_WRAP := malloc calloc realloc strdup strndup asprintf __asprintf_chk \
  open openat read __read_chk pread __pread_chk write fsync fdatasync rename \
  mdb_env_open mdb_txn_begin mdb_txn_commit mdb_get mdb_put \
  ldap_initialize ldap_set_option ldap_connect ldap_start_tls ldap_install_tls \
  ldap_sasl_bind ldap_search_ext ldap_result ldap_parse_result ldap_get_dn \
  ldap_get_values_len ldap_dn_normalize
# wrapped to watch wardd, never failed: a phase (its calls are counted), a
# reload's core_init, and the log lines (tests/fault/fault.h)
FAULT_HOOK := phase_run core_init syslog __syslog_chk
FAULT_OBJ := $(call obj,$(DAEMON_SRC) tests/fault/fault_wrap.c)
$(FAULT_WARDD): $(FAULT_OBJ) $(LIBWARD) $(LIBPOLICY)
	@mkdir -p $(dir $@)
	$(CC) -pie -o $@ $(FAULT_OBJ) $(LIBPOLICY) $(LIBWARD) \
	  $(foreach f,$(FAULT_WRAP) $(FAULT_HOOK),-Wl,--wrap=$(f)) \
	  $(LDFLAGS_ALL) $(PKG_LIBS) $(SD_LIBS) -lpthread

$(TESTCOMMON): $(call obj,$(TESTCOMMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/tests/%: $(B)/obj/tests/%.o $(TESTCOMMON) $(LIBWARD) $(LIBPOLICY)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TESTCOMMON) $(LIBPOLICY) $(LIBWARD) $(LDFLAGS_ALL) $(PKG_LIBS) -lcunit -lpam -lm -lpthread

# Fuzz targets replayed over their corpus (gcc build, no libFuzzer needed).
$(B)/tests/fuzz/replay_%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/replay_main.o $(TESTCOMMON) $(LIBWARD) $(LIBPOLICY)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(B)/obj/tests/fuzz/replay_main.o $(TESTCOMMON) $(LIBPOLICY) $(LIBWARD) $(LDFLAGS_ALL) $(PKG_LIBS) -lcunit -lpam -lm -lpthread

# bench/common: what the benchmark programs share (not a benchmark itself)
BENCHUTIL := $(B)/obj/bench/common/benchutil.o
$(B)/bench/%: $(B)/obj/bench/%.o $(BENCHUTIL) $(LIBWARD) $(LIBPOLICY)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(BENCHUTIL) $(LIBPOLICY) $(LIBWARD) $(LDFLAGS_ALL) $(PKG_LIBS) -lpam -lm

tests: all $(ALL_TESTS) $(TOOLS) $(FAULT_WARDD)

# One pass over every suite with the build in $(B).  Each suite is a program
# that exits non-zero on failure; tests/run-suites.sh prints the totals.
# Under ASan the fleet's library-level suites are left out, to keep make
# check within CI's 15 minutes: each starts four slapds of its own, and the
# same library code (lib/dir_fleet*.c) runs under ASan in test_fleetd,
# through wardd and wardctl's rekey.
ASAN_SKIP = $(B)/tests/fleet/test_fleet $(B)/tests/fleet/test_fleetctl
check-one: tests
	@WARD_BUILD=$(abspath $(B)) WARD_SRC=$(CURDIR) WARD_SAN=$(SAN) \
	  WARD_STAGE_ROOT=$(TEST_STAGE_ROOT) tests/run-suites.sh \
	  $(if $(SAN),$(filter-out $(ASAN_SKIP),$(ALL_TESTS)),$(ALL_TESTS))

# The stages and their order are in tests/check.sh (the ASan build and the
# static analysis run beside the first pass's suites, at nice 19).
check: deps
	@MAKE="$(MAKE)" tests/check.sh $(abspath $(B)) $(TEST_STAGE_ROOT)

benches: $(BENCHES)

# demo and bench run make again after deps: on a fresh machine pkg-config
# (and so PKG_LIBS) only exists once deps has installed it.
demo: deps
	@$(MAKE) --no-print-directory all $(TOOLS)
	@contrib/demo.sh $(abspath $(B))

bench: deps
	@$(MAKE) --no-print-directory all $(BENCHES) $(TOOLS)
	@WARD_BUILD=$(abspath $(B)) bench/run.sh

fuzz: deps
	@tests/fuzz/run.sh $(abspath build/fuzz)

# Modes are part of the contract: nothing is setuid or setgid (wardd, started
# by its systemd units, does the privileged work), keys and state are
# private; existing configuration is never overwritten.
install: all
	install -d -m 0755 $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(INCDIR)/ward \
	  $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(SYSCONFDIR)/ward $(DESTDIR)$(PREFIX)/share/doc/ward/examples/pam.d \
	  $(DESTDIR)$(PREFIX)/share/doc/ward/examples/sudoers.d \
	  $(DESTDIR)$(UNITDIR)
	install -d -m 0700 $(DESTDIR)/var/lib/ward
	install -d -m 0750 $(DESTDIR)/var/log/ward
	install -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_ward.so
	install -m 0755 $(WARDCTL) $(DESTDIR)$(SBINDIR)/wardctl
	install -m 0755 $(WARDD) $(DESTDIR)$(SBINDIR)/wardd
	install -m 0644 contrib/system/wardd.service contrib/system/wardd.socket $(DESTDIR)$(UNITDIR)/
	install -m 0644 policy/ward_policy.h $(DESTDIR)$(INCDIR)/ward/ward_policy.h
	install -d -m 0755 $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 0644 $(LIBPOLICY) $(DESTDIR)$(LIBDIR)/libwardpolicy.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	  -e 's|@INCDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCDIR))|' \
	  -e "s|@VERSION@|$$(sed -n 's/^#define WARD_VERSION \"\(.*\)\"/\1/p' lib/ward.h)|" \
	  policy/ward-policy.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ward-policy.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/ward-policy.pc
	install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	[ -e $(DESTDIR)$(SYSCONFDIR)/ward/ward.conf ] || \
	  install -m 0644 contrib/ward.conf $(DESTDIR)$(SYSCONFDIR)/ward/ward.conf
	install -m 0644 contrib/ward.conf contrib/policy.conf $(DESTDIR)$(PREFIX)/share/doc/ward/examples/
	install -m 0644 contrib/pam.d/* $(DESTDIR)$(PREFIX)/share/doc/ward/examples/pam.d/
	install -m 0644 contrib/sudoers.d/ward $(DESTDIR)$(PREFIX)/share/doc/ward/examples/sudoers.d/ward

# Debian packages (debian/, docs/PACKAGING.md), built from a copy of this
# tree in $(B)/deb/src so that dpkg-buildpackage's output (written beside
# the tree it builds) lands in $(B)/deb/ and the tree's build/ is left alone.
deb-deps:
	@contrib/install-deps.sh --deb --check 2>/dev/null || { \
	  echo "Some packaging tools are missing; running contrib/install-deps.sh --deb:"; \
	  echo "----"; sed -n '/^DEB_PKGS=/,/^$$/p' contrib/install-deps.sh; echo "----"; \
	  contrib/install-deps.sh --deb; }

deb: deb-deps
	rm -rf $(B)/deb && mkdir -p $(B)/deb/src
	tar -cf - --exclude=./build --exclude=./.git . | tar -xf - -C $(B)/deb/src
	cd $(B)/deb/src && dpkg-buildpackage -us -uc -b
	rm -rf $(B)/deb/src
	@ls -l $(B)/deb/*.deb

# Needs root, the Debian mirror of /etc/apt/sources.list*, and minutes:
# not part of make check (tests/packages/run.sh says what it does).
check-packages: deb
	@tests/packages/run.sh $(abspath $(B)/deb)

clean:
	rm -rf build $(dir $(TEST_STAGE_ROOT))

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
.SECONDARY:
