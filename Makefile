# MCP Conductor. `make help` lists the targets; each installs and builds what it needs first.
SHELL := /bin/bash
MAKEFLAGS += --no-print-directory
.DEFAULT_GOAL := help
SOURCES := $(shell find src -name '*.ts' -not -name '*.test.ts' 2>/dev/null)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.installed $(SOURCES) tsconfig.json tsconfig.build.json
	npm run build
	@touch $@

.PHONY: help deps build docker image image-lock conductor-image serve stdio doctor reap test test-unit lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

deps: node_modules/.installed ## install dependencies (npm ci) when missing or stale

build: dist/.built ## compile TypeScript to dist/

docker: ## make sure a Docker engine answers (as root with none configured, installs and starts one: scripts/docker-setup.sh)
	@docker info >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then scripts/docker-setup.sh >/dev/null; \
	  else echo "No Docker engine answers$${DOCKER_HOST:+ at $$DOCKER_HOST}. Start one (as root: scripts/docker-setup.sh) or fix DOCKER_HOST." >&2; exit 1; fi; }

image: build docker ## build the sandbox image from images/deno/deno.lock (a no-op when its inputs are unchanged)
	node dist/cli.js image

image-lock: build docker ## resolve the image dependencies anew, rewrite images/deno/deno.lock, build
	node dist/cli.js image --update-lock

conductor-image: image ## build the conductor as the image mcp-conductor:<version> and :latest (NODE=…, DOCKER_GID=…)
	node scripts/deploy/conductor-image.mjs $${NODE:+--node "$$NODE"} $${DOCKER_GID:+--docker-gid "$$DOCKER_GID"}

serve: build docker ## serve MCP over Streamable HTTP (HOST, PORT)
	node dist/cli.js serve --host $${HOST:-127.0.0.1} --port $${PORT:-8787}

# A client reads this target's stdout as JSON-RPC: nothing else may reach it (no echoed command, no "Entering
# directory" under -C, no npm or tsc output from a first build), so the set-up runs with its output on stderr.
stdio: ## serve MCP over stdio (only JSON-RPC on stdout: installing, building and set-up print on stderr)
	@$(MAKE) --no-print-directory build docker >&2
	@exec node dist/cli.js stdio

doctor: build ## check Docker, runtimes, the image, config and policies
	node dist/cli.js doctor

reap: build ## remove containers left by a conductor that died
	node dist/cli.js reap

test: build docker ## run every test: unit, and integration against the real Docker engine
	npx vitest run

test-unit: deps ## run the unit tests only (no Docker)
	npx vitest run --project unit

lint: deps ## ESLint, Prettier, the type check (tests included), and deno check + deno lint of the sandbox runtime
	npm run lint
	npm run typecheck
	DENO_NO_UPDATE_CHECK=1 npm run --silent lint:runtime

bench: build docker ## run the benchmarks in scripts/bench and print their tables
	node scripts/bench/run.mjs

clean: ## remove build output
	rm -rf dist
