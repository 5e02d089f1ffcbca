# Makefile - decoderbufs: the output plugin (decoderbufs/) and the apply
# extension (apply_ext/), each built with PGXS.
#
#   make            build both modules
#   make install    install them into the PostgreSQL found by PG_CONFIG
#   make check      install what is missing, build, install, run every test
#   make installcheck   run every test against the installed modules
#   make demo       throwaway servers showing the product at work
#   make bench      benchmarks against the peers; results in bench/results/
#
# `make check` is what CI runs (.ci/run).

PG_CONFIG ?= pg_config
SUBDIRS = decoderbufs apply_ext

.PHONY: all install uninstall clean check installcheck demo bench deps

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
	rm -rf regress/output tools/nullrecv

deps:
	@tools/install-deps.sh

check: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) regress/run_checks.sh

installcheck:
	@PG_CONFIG=$(PG_CONFIG) regress/run_checks.sh

demo: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) tools/demo.sh

bench: deps
	@$(MAKE) install
	@PG_CONFIG=$(PG_CONFIG) bench/run.sh
