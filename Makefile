# iotd — see README.md. Two set-up commands: `make run` and `make test`.
GO      ?= go
BIN     := bin
DIST    := dist
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/iotd/iotd/daemon.Version=$(VERSION)
PKGS    := ./...
# What users run: static, paths trimmed, stripped. grpcnotrace leaves out
# gRPC's x/net/trace debug pages (never served by iotd), whose html/template
# executor would make the linker keep every exported method: 2.8 MB. Add
# iotd_omit_<name> tags to leave built-ins out (README: Measured).
TAGS    ?= grpcnotrace
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)'

.PHONY: all build run run-at run-edge test lint lint-os bench cross package fuzz generate clean

all: build

build:
	$(GOBUILD) -o $(BIN)/iotd ./cmd/iotd
	$(GOBUILD) -o $(BIN)/hubsim ./cmd/hubsim
	$(GOBUILD) -o $(BIN)/atsim ./cmd/atsim
	cd modules/sim800 && $(GOBUILD) -o ../../$(BIN)/iotd-sim800 ./cmd/iotd-sim800 \
	  && $(GOBUILD) -o ../../$(BIN)/iotd-driver-sim800 ./cmd/iotd-driver-sim800

# hubsim + iotd on loopback over real TLS, with a generated device.
run: build
	./scripts/demo.sh

# iotd through a virtual AT modem (atsim on a pty at 115200 baud) to hubsim:
# TLS and MQTT by iotd over the modem's sockets. DIALECT=esp|simcom|ublox|sim800
# (sim800: bin/iotd-sim800, the stock iotd plus modules/sim800).
run-at: build
	./scripts/demo-at.sh

# The edge demo (README: The bus on NATS): hubsim, a JetStream nats-server
# (bin/edge nats), iotd on the NATS bus (bin/iotd-nats: built with the
# iotd_nats tag; the stock bin/iotd stays without it), a producer in a second
# process publishing through NATS (bin/edge produce), the messages counted at
# hubsim; then a fleet of FLEET_N (1000) devices and its figures. EDGE_N
# (1000) messages; logs in .run-edge.
run-edge:
	$(GOBUILD) -o $(BIN)/hubsim ./cmd/hubsim
	$(subst -tags '$(TAGS)',-tags '$(TAGS) iotd_nats',$(GOBUILD)) -o $(BIN)/iotd-nats ./cmd/iotd
	$(GOBUILD) -o $(BIN)/edge ./cmd/edge
	$(GOBUILD) -o $(BIN)/fleet ./cmd/fleet
	BIN=$(BIN) FLEET_N=$(FLEET_N) ./scripts/edge.sh

# The whole suite, race detector on; fuzz targets run their seed corpora.
# Tests whose peer (mosquitto, libcoap) is missing skip, and the run ends by
# naming them and the command that installs the peers (under CI=true they
# fail instead: .ci/run installs them).
SKIPLOG := $(CURDIR)/.test-skipped
test:
	@rm -f $(SKIPLOG); export IOTD_SKIPPED_LOG=$(SKIPLOG); status=0; \
	echo "$(GO) test -race -count=1 -timeout 20m $(PKGS)"; \
	$(GO) test -race -count=1 -timeout 20m $(PKGS) || status=1; \
	echo "cd plugins/example && $(GO) vet ./... && $(GO) test -race -count=1 ./..."; \
	(cd plugins/example && $(GO) vet ./... && $(GO) test -race -count=1 ./...) || status=1; \
	echo "cd modules/sim800 && $(GO) vet ./... && $(GO) test -race -count=1 ./..."; \
	(cd modules/sim800 && $(GO) vet ./... && $(GO) test -race -count=1 ./...) || status=1; \
	./scripts/skipped-summary.sh $(SKIPLOG); rm -f $(SKIPLOG); exit $$status

lint: lint-os
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd plugins/example && $(GO) vet ./...
	cd modules/sim800 && $(GO) vet ./...

# The other systems iotd and hubsim build for (README: Other operating
# systems): vet the main module, tests included, as Windows and macOS, so
# that OS-specific code stays in its _unix/_windows/_linux files; no cgo,
# no binaries written (a cold run takes about a minute, a warm one seconds).
lint-os:
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) vet $(PKGS)
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) vet $(PKGS)
	GOOS=windows GOARCH=amd64 $(GOBUILD) -o /dev/null ./cmd/iotd ./cmd/hubsim
	GOOS=darwin GOARCH=arm64 $(GOBUILD) -o /dev/null ./cmd/iotd ./cmd/hubsim

# Benchmarks compare iotd against a peer run side by side (bare paho, curl,
# in process, the serial line rate); the run ends with one table of every
# figure, iotd's and the peer's numbers and the ratio against its target.
bench:
	@mkdir -p $(BIN); { $(GO) test -run '^$$' -bench . -benchtime 3s -timeout 30m ./bench/...; echo $$? > $(BIN)/bench.status; } | tee $(BIN)/bench.out
	@echo; $(GO) run ./bench/table < $(BIN)/bench.out; exit $$(cat $(BIN)/bench.status)

# Static binaries of iotd for the boards we target, and of iotd and hubsim
# for a developer's Windows or Mac (README: Other operating systems).
cross:
	GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) -o $(DIST)/iotd-linux-armv7 ./cmd/iotd
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $(DIST)/iotd-linux-arm64 ./cmd/iotd
	GOOS=linux GOARCH=mipsle GOMIPS=softfloat $(GOBUILD) -o $(DIST)/iotd-linux-mipsle ./cmd/iotd
	GOOS=linux GOARCH=riscv64 $(GOBUILD) -o $(DIST)/iotd-linux-riscv64 ./cmd/iotd
	GOOS=windows GOARCH=amd64 $(GOBUILD) -o $(DIST)/iotd-windows-amd64.exe ./cmd/iotd
	GOOS=windows GOARCH=amd64 $(GOBUILD) -o $(DIST)/hubsim-windows-amd64.exe ./cmd/hubsim
	GOOS=darwin GOARCH=arm64 $(GOBUILD) -o $(DIST)/iotd-darwin-arm64 ./cmd/iotd
	GOOS=darwin GOARCH=arm64 $(GOBUILD) -o $(DIST)/hubsim-darwin-arm64 ./cmd/hubsim
	@ls -l $(DIST)

# Packages for the boards, in dist/: .deb and .rpm for amd64, arm64, armv7
# and riscv64, and a tarball for mipsle (OpenWrt-class boards), with nfpm
# (pinned in scripts/package.sh). PKG_ARCHES picks some, e.g.
# `make package PKG_ARCHES=amd64 PKG_FORMATS=deb`; PKG_VERSION overrides the
# version. scripts/test-package.sh (root, dpkg) installs, upgrades and purges
# the amd64 .deb.
PKG_ARCHES ?=
PKG_FORMATS ?= deb rpm
package:
	GO='$(GO)' DIST='$(DIST)' VERSION='$(VERSION)' TAGS='$(TAGS)' PKG_FORMATS='$(PKG_FORMATS)' ./scripts/package.sh $(PKG_ARCHES)

# Run every fuzz target for FUZZTIME each (default 20s).
FUZZTIME ?= 20s
fuzz:
	@for mod in . modules/sim800; do \
	  for pkg in $$(cd $$mod && $(GO) list ./...); do \
	    for f in $$(cd $$mod && $(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	      echo "== $$pkg $$f"; (cd $$mod && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg) || exit 1; \
	    done; \
	  done; \
	done

# Regenerate the plugin protocol's Go code (committed, so nobody else needs
# protoc): apt-get install protobuf-compiler, and
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
generate:
	cd plugins/proto && PATH="$$PATH:$$($(GO) env GOPATH)/bin" protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative driver.proto

clean:
	rm -rf $(BIN) $(DIST) .run .run-at .run-edge

# A fleet of N (default 1000) virtual devices over TLS against a local
# hubsim (loopback ports 38883/38080, fresh state): connect with jitter,
# 1 msg/s each, an OTA pushed to all, hubsim restarted after 20 s; prints
# the fleet's figures and hubsim's peak RSS (see README, hubsim: Fleet).
FLEET_N ?= 1000
FLEET_FLAGS ?= -jitter 10s -rate 1 -ota -ota-after 5s -duration 45s
.PHONY: fleet
fleet:
	$(GOBUILD) -o $(BIN)/hubsim ./cmd/hubsim
	$(GOBUILD) -o $(BIN)/fleet ./cmd/fleet
	BIN=$(BIN) cmd/fleet/scale.sh $(FLEET_N) $(FLEET_FLAGS)
