# berth: the documented way to build, run, test and check everything.
SWIFT ?= swift
PREFIX ?= /usr/local
BUILD_FLAGS ?=
BIN := .build/debug/berth
# System packages berth needs to build and run (Debian names).
APT_PACKAGES := tmux libncurses-dev libsqlite3-dev libjs-xterm node-xterm

.PHONY: all build release run test test-tmux lint format clean deps install man bench bench-quick crash-stress fuzz screenshots

all: build

## deps: install missing system packages (apt-get, as root or with sudo), else print how.
deps:
	@./scripts/install-deps.sh $(APT_PACKAGES)

build:
	$(SWIFT) build $(BUILD_FLAGS) --product berth
	$(SWIFT) build $(BUILD_FLAGS) --product berth-serve

## release: self-contained binaries (the Swift runtime linked in: nothing of the toolchain is
## needed where they run, and the panel's memory is 6 MB smaller than with shared libraries).
release:
	$(SWIFT) build -c release --static-swift-stdlib --product berth
	$(SWIFT) build -c release --static-swift-stdlib --product berth-serve

## run: install what is missing, build, and open the panel.
run: deps build
	@$(BIN) $(ARGS)

## test: the whole suite (unit, real tmux, real SQLite, end to end).
test:
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(TEST_FLAGS)

## test-tmux: the suite against each tmux release berth supports (3.2a, 3.4, 3.5a, 3.7c and
## master, built from ../shared/tmux into TMUX_CACHE once), through BERTH_TMUX. TMUX_VERSIONS
## and TEST_FLAGS (e.g. --filter Recovery) narrow it. The system tmux is `make test`'s.
TMUX_VERSIONS ?= 3.2a 3.4 3.5a 3.7c master
TMUX_SOURCES ?= $(firstword $(wildcard ../shared/tmux /work/shared/tmux))
TMUX_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/berth-tmux
test-tmux:
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	@test -n "$(TMUX_SOURCES)" || { echo "test-tmux: no tmux sources (set TMUX_SOURCES to shared/tmux)"; exit 2; }
	@status=0; summary=""; \
	for v in $(TMUX_VERSIONS); do \
	  bin=$$($(TMUX_SOURCES)/build.sh $$v $(TMUX_CACHE)/$$v | tail -1) || { summary="$$summary\n$$v: build failed"; status=1; continue; }; \
	  echo "== tmux $$v ($$bin)"; \
	  if BERTH_TMUX=$$bin $(SWIFT) test --skip-build $(TEST_FLAGS) > $(TMUX_CACHE)/test-$$v.log 2>&1; then r=passed; else r=FAILED; status=1; fi; \
	  line=$$(grep -E "Test run with" $(TMUX_CACHE)/test-$$v.log | tail -1); \
	  summary="$$summary\n$$v: $$r $$line (log: $(TMUX_CACHE)/test-$$v.log)"; \
	done; printf "$$summary\n"; exit $$status

lint:
	$(SWIFT) format lint --strict --recursive --configuration .swift-format Sources Tests Package.swift

format:
	$(SWIFT) format --in-place --recursive --configuration .swift-format Sources Tests Package.swift

## bench: berth next to tmux itself and the tools people use (writes BENCHMARKS.md).
bench:
	./scripts/bench.sh

bench-quick:
	./scripts/bench.sh --quick

## crash-stress: 2,000 berth one-shot commands, half SIGKILLed, while tmux is kept busy notifying
## (CRASH_PROCESSES to change the count; `make bench` runs it too).
crash-stress: release
	./scripts/crash-stress.sh -n $(or $(CRASH_PROCESSES),2000) -b .build/release/berth

## man: regenerate man/berth.1 from the command definitions and the panel's key table.
man:
	./scripts/gen-man.sh

## screenshots: the real panel in xterm under Xvfb (screenshots/*.png).
screenshots:
	./scripts/screenshots.sh

## fuzz: every libFuzzer target for FUZZ_SECONDS each (default 60).
fuzz:
	./scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build .build-*

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 .build/release/berth $(DESTDIR)$(PREFIX)/bin/berth
	install -m 755 .build/release/berth-serve $(DESTDIR)$(PREFIX)/bin/berth-serve
	install -m 644 man/berth.1 $(DESTDIR)$(PREFIX)/share/man/man1/berth.1
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	.build/release/berth --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/berth
	.build/release/berth --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_berth
	.build/release/berth --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/berth.fish
