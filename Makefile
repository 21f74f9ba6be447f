# berth: the documented way to build, run, test and check everything.
SWIFT ?= swift
PREFIX ?= /usr/local
BUILD_FLAGS ?=
BIN := .build/debug/berth
# System packages berth needs to build and run (Debian names).
APT_PACKAGES := tmux libncurses-dev libsqlite3-dev libjs-xterm node-xterm

.PHONY: all build release run test lint format clean deps install man bench bench-quick crash-stress fuzz screenshots

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
