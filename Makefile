# Makefile - decoderbufs: the output plugin (decoderbufs/) and the apply
# extension (apply_ext/), each built with PGXS.
#
#   make            build both modules
#   make install    install them into the PostgreSQL found by PG_CONFIG
#   make check      install what is missing, build, install, run every test
#   make installcheck   run every test against the installed modules
#   make demo       throwaway servers showing the product at work
#   make bench      benchmarks against the peers; results in bench/results/
#   make check-asan      build both modules with AddressSanitizer and
#                   UndefinedBehaviorSanitizer into a private copy of the
#                   server whose processes preload the ASan runtime, run the
#                   tests there and fail on any report (tools/sanitizer_check.sh;
#                   REGRESS_TESTS, PROVE_TESTS, SKIP_REGRESS, SKIP_TAP choose)
#   make check-valgrind  the same with the servers under valgrind memcheck
#                   and tools/valgrind.supp; slow, so by default only the
#                   pg_regress suites and two TAP tests
#   make soak       install, then run the randomized two-way test
#                   (regress/t/033_twoway_random.pl) with many seeds for
#                   longer: SOAK_SEEDS=20 seeds (or SOAK_SEED_LIST="17 42"),
#                   SOAK_SECONDS=120 of writes each, SOAK_RATE=150 tps and
#                   SOAK_CLIENTS=4 clients per side; ends "N passed, N failed"
#   make fuzz       install, then fuzz the apply worker's message decoding
#                   (regress/t/060_fuzz.pl) for longer: FUZZ_SECONDS=600 of
#                   mutations in rounds of FUZZ_ITERATIONS=20000, seeded by
#                   FUZZ_SEED (default: the clock; printed); prints the
#                   inputs passed and failed, then "N passed, N failed"
#
# `make check` is what CI runs (.ci/run).

PG_CONFIG ?= pg_config
SUBDIRS = decoderbufs apply_ext

.PHONY: all install uninstall clean check installcheck demo bench deps soak fuzz \
	check-asan check-valgrind

all:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d PG_CONFIG=$(PG_CONFIG) || exit 1; done

# Installing into the server's directories needs root; use sudo otherwise.
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: all
	@for d in $(SUBDIRS); do $(SUDO) $(MAKE) -C $$d PG_CONFIG=$(PG_CONFIG) install || exit 1; done

uninstall:
	@for d in $(SUBDIRS); do $(SUDO) $(MAKE) -C $$d PG_CONFIG=$(PG_CONFIG) uninstall || exit 1; done

clean:
	@for d in $(SUBDIRS); do $(MAKE) -C $$d PG_CONFIG=$(PG_CONFIG) clean || exit 1; done
	rm -rf regress/output regress/output-asan regress/output-valgrind build tools/nullrecv

deps:
	@tools/install-deps.sh

check: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) regress/run_checks.sh

# Never installs into PG_CONFIG's installation: see tools/sanitizer_check.sh.
check-asan: deps
	@PG_CONFIG=$(PG_CONFIG) tools/sanitizer_check.sh asan

check-valgrind: deps
	@tools/install-deps.sh valgrind
	@PG_CONFIG=$(PG_CONFIG) tools/sanitizer_check.sh valgrind

installcheck:
	@PG_CONFIG=$(PG_CONFIG) regress/run_checks.sh

demo: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) tools/demo.sh

bench: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) bench/run.sh

SOAK_SEEDS ?= 20
SOAK_SEED_LIST ?=
SOAK_SECONDS ?= 120
SOAK_RATE ?= 150
SOAK_CLIENTS ?= 4

soak: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) PROVE_TESTS=regress/t/033_twoway_random.pl SKIP_REGRESS=1 \
		DBUFS_NSEEDS=$(SOAK_SEEDS) DBUFS_SEEDS="$(SOAK_SEED_LIST)" DBUFS_SECONDS=$(SOAK_SECONDS) \
		DBUFS_RATE=$(SOAK_RATE) DBUFS_CLIENTS=$(SOAK_CLIENTS) regress/run_checks.sh

FUZZ_SECONDS ?= 600
FUZZ_ITERATIONS ?= 20000
FUZZ_SEED ?=

fuzz: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) PROVE_TESTS=regress/t/060_fuzz.pl SKIP_REGRESS=1 \
		DBUFS_FUZZ_SECONDS=$(FUZZ_SECONDS) DBUFS_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) \
		DBUFS_FUZZ_SEED=$(FUZZ_SEED) PG_TEST_TIMEOUT_DEFAULT=$$(( $(FUZZ_SECONDS) + 600 )) \
		regress/run_checks.sh
