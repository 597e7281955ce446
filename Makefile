# lvss — the two commands of the quick start are `make demo` and `make check`.
# Both install what is missing (scripts/install-deps.sh), configure and build.

BUILD      ?= build
BUILD_ASAN ?= build-asan
MESON_TEST_ARGS ?=

.PHONY: all deps build check asan-build check-asan check-valgrind check-apps lint demo bench install clean deb check-deb

all: build

deps:
	./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Every test: unit tests and the integration suite against a real lvssd.
check: build
	./scripts/run-tests.sh $(BUILD) --no-suite apps-slow $(MESON_TEST_ARGS)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

# The ASan+UBSan build alone, without running anything (.ci/run builds it in
# the background, niced, while make check runs).
asan-build: $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)

check-asan: deps asan-build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		./scripts/run-tests.sh $(BUILD_ASAN) --no-suite apps-slow $(MESON_TEST_ARGS)

# The integration suite with every lvss process under valgrind, in three
# lanes at once (the suites valgrind-lane1..3: tests/integration/meson.build
# says which test is in which lane, and why).
check-valgrind: build
	LVSS_TEST_VALGRIND=1 ./scripts/run-tests.sh $(BUILD) --lanes valgrind-lane 3 $(MESON_TEST_ARGS)

# The slow application suite: many backup-and-restore cycles under load
# against real PostgreSQL and MariaDB servers (issue 9). .ci/run runs it.
check-apps: build
	./scripts/run-tests.sh $(BUILD) --suite apps-slow $(MESON_TEST_ARGS)

# clang-tidy (.clang-tidy) and cppcheck on the compile database of $(BUILD),
# over the shipped code (issue 11 §4); any finding fails. scripts/lint.sh says what is checked.
lint: deps $(BUILD)/build.ninja
	./scripts/lint.sh $(BUILD)

demo: build
	./scripts/demo.sh $(BUILD)

# Benchmarks, optimized, in their own build directory (bench/README.md). The
# whole tree is built there first, not only what the bench runs: the -O3
# warnings (-Werror) of every file show up here too.
BUILD_BENCH ?= build-bench
bench: deps
	@test -f $(BUILD_BENCH)/build.ninja || meson setup $(BUILD_BENCH) -Dbuildtype=release
	ninja -C $(BUILD_BENCH)
	./bench/run.sh $(BUILD_BENCH)

# The Debian packages (issue 12 §1, debian/): dpkg-buildpackage -us -uc -b on
# a copy of the tree in $(BUILD_DEB)/lvss, so that the .debs, .changes and
# .buildinfo land in $(BUILD_DEB)/, never next to the source tree. The tests
# are not built there (nocheck: make check tests the tree); no -dbgsym
# packages unless DEB_BUILD_OPTIONS says otherwise.
BUILD_DEB ?= build-deb
DEB_BUILD_OPTIONS ?= nocheck parallel=2 noautodbgsym
deb: deps
	rm -rf $(BUILD_DEB)
	mkdir -p $(BUILD_DEB)/lvss
	tar -C . --exclude='./build*' --exclude=./.git --exclude='./obj-*' -cf - . | tar -C $(BUILD_DEB)/lvss -xf -
	cd $(BUILD_DEB)/lvss && DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" dpkg-buildpackage -us -uc -b

# Builds the packages (make deb), runs lintian, installs them on this machine,
# takes a backup with the installed programs and purges them again
# (tests/packaging/test-deb.sh; as root). Ends with "N passed, N failed".
check-deb: deps
	./tests/packaging/test-deb.sh $(BUILD_DEB)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_DEB)
