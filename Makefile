# throttle-handler — every target installs what it needs from the repo's own
# files (go.mod, package-lock.json). Node tools come from node_modules/.bin.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1

FUNCTIONS := $(notdir $(wildcard functions/*))
# The packages that import the CDK library: tested by the CDK step of make
# test only, without -race (see there).
CDK_PACKAGES := -e /infra/cdk -e /examples/embed
GOTEST_FLAGS ?= -race -shuffle=on -count=1
FUZZTIME ?= 60s
SEEDS ?= 20
FIRST_SEED ?= 1
CHAOS_PARALLEL ?= 2
DEMO_FLAGS ?=

.PHONY: all deps build test unit awslocal asl integration lint vuln fuzz bench bench-full synth deploy demo chaos clean $(addprefix build-,$(FUNCTIONS))

all: lint test

# deps is the one install path (internal/nodetools), also taken by every
# command that needs the Node tools: npm ci only when package.json or
# package-lock.json changed since the last install (node_modules/.installed),
# then node_modules/go.mod, which makes the go command treat node_modules as
# another module, so ./... skips the Go templates the aws-cdk package ships.
deps:
	@go run ./internal/cmd/deps

build: $(addprefix build-,$(FUNCTIONS))
# A static pattern rule: make skips implicit rules for .PHONY targets.
$(addprefix build-,$(FUNCTIONS)): build-%:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
		-o build/$*/bootstrap ./functions/$*

# test runs everything: unit tests, the integration suite on the local AWS,
# the CDK assertions and the state-machine checks.
test: deps
	go vet ./...
	@# Compile every test package first (-export compiles and links nothing):
	@# on a cold cache the compiler would otherwise run beside the integration
	@# tests, whose local AWS runs on a scaled clock (a cold-cache run lost its
	@# local DynamoDB mid-test while the compiler ran beside it).
	go list -race -export -deps -test $$(go list ./... | grep -v $(CDK_PACKAGES)) > /dev/null
	go test $(GOTEST_FLAGS) $$(go list ./... | grep -v $(CDK_PACKAGES))
	@# The 1,000-item jobs test runs alone (see its comment): its wall time
	@# is one of the issue's targets.
	TH_E2E_ALONE=1 go test -count=1 -run '^TestItemsWaitForCompletion$$' ./integration/e2e/
	@# The CDK tests run without -race: they start no goroutines of ours, and
	@# the race build of the CDK library costs minutes on a cold cache.
	@# examples/embed (a CDK app) is built and checked by them.
	go test -count=1 -shuffle=on ./infra/cdk/...
	@if ls statemachines/*.asl.json >/dev/null 2>&1; then $(MAKE) --no-print-directory asl; fi

unit: deps
	go test $(GOTEST_FLAGS) ./pkg/... ./functions/... ./cmd/...

integration: deps
	go test -count=1 ./integration/...

asl: deps
	asl-validator $(addprefix --json-path ,$(wildcard statemachines/*.asl.json))

lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...
	@if [ -d internal/codecheck ]; then go test ./internal/codecheck/...; fi
	@if ls statemachines/*.asl.json >/dev/null 2>&1; then $(MAKE) --no-print-directory asl; fi
	@$(MAKE) --no-print-directory vuln

# vuln checks the dependencies against the Go vulnerability database; with no
# route to vuln.go.dev it says so and skips (the build machines here are offline).
vuln:
	@out=$$(go tool govulncheck ./... 2>&1); rc=$$?; \
	if echo "$$out" | grep -q 'fetching vulnerabilities'; then echo "govulncheck: skipped, vulnerability database unreachable"; \
	else echo "$$out"; exit $$rc; fi

# fuzz runs every Fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$(go list ./...); do \
		for f in $$(go test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f ($(FUZZTIME))"; \
			go test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

bench: deps
	go test -run '^$$' -bench . -benchmem ./pkg/...
	go run ./integration/cmd/bench limiter
	@mkdir -p reports
	go run ./integration/cmd/bench launch --quick --json reports/bench-launch.json

# bench-full is the launch benchmark at full size, outside CI (make test does
# not run it; hours on 2 cores, so run it on an idle machine): every scenario
# at 10,000 Fargate tasks (ec2 at its default 500 instances), sdk-adaptive at
# 2,000 tasks at time scale 1 (the SDK's clock cannot be scaled), each pair
# once per seed of BENCH_SEEDS, then the medians [min–max] per pair.
BENCH_SEEDS ?= 1,2,3
BENCH_FLAGS ?=
bench-full: deps
	@mkdir -p reports
	go run ./integration/cmd/bench launch --tasks 10000 --adaptive-tasks 2000 --seeds $(BENCH_SEEDS) --run-timeout 30m \
		--json reports/bench-full.json --chart reports/bench-full.png $(BENCH_FLAGS)

# CDK_ARGS passes context, e.g. CDK_ARGS="-c clusters=jobs -c taskDefinitions=job:3"
CDK_ARGS ?=
synth: deps build
	cdk synth --no-notices -q $(CDK_ARGS)

deploy: deps build
	cdk deploy --no-notices --require-approval broadening $(CDK_ARGS)

# awslocal serves the local AWS on the usual edge port until Ctrl-C.
awslocal: deps
	go run ./integration/cmd/awslocal --addr 127.0.0.1:4566

demo: deps
	go run ./integration/cmd/demo $(DEMO_FLAGS)

chaos: deps
	go run ./integration/cmd/chaos --seeds $(SEEDS) --first-seed $(FIRST_SEED) --parallel $(CHAOS_PARALLEL)

clean:
	rm -rf build cdk.out
