# Two entry points do all the set-up on a fresh machine:
#   make demo   build what is needed, then run the whole study on built-in phantom data
#   make test   build what is needed, then run the test suite (what CI runs)
# Native pieces are optional: without libdnnl-dev (and not root to install it) everything still
# works on the slower pure-JS backend, with a message saying so.

SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: all deps system-deps native build layers test demo bench fuzz clean

all: build native

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NODE_MODULES_STAMP)

# Debian packages for the native backend (oneDNN) and the browser check of reports; installed
# only when running as root on an apt system, otherwise we say what to install and go on.
system-deps:
	@bash scripts/system-deps.sh

native: deps system-deps
	@node scripts/build-native.mjs || echo "covidnet: native backend not built; falling back to the JS backends (see above)"

build: deps
	npx tsc -p tsconfig.json

# the layer order of src/ (docs/architecture.md): no upward import, no cycle
layers: deps
	npx depcruise src --config .dependency-cruiser.cjs

test: build native layers
	node --test --test-concurrency=1 dist/

demo: build native
	node bin/covidnet.js demo

bench: build native
	node bin/covidnet.js bench --model single --json

# every parser of outside input under fast-check for FUZZ_SECONDS each (src/fuzz/; `make test`
# runs a few hundred inputs per target); prints executions per target, exit 1 on a finding
FUZZ_SECONDS ?= 60
fuzz: build native
	node dist/fuzz/main.js --seconds $(FUZZ_SECONDS)

clean:
	rm -rf dist native/build
