# Graft's entry points. `make demo` and `make test` work on a fresh machine: they install what they
# need (npm packages, the local tools built from the Go module proxy) before running.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_BIN := node_modules/.bin
TOOLS := hack/tools.sh
# Everything that starts a sandbox runs inside a network namespace of its own with no route out
# (hack/netns.sh): pods get real addresses in 10.244.0.0/16 there, and nothing reaches the host's network.
NETNS := hack/netns.sh
# The AWS SDK's notice that its 2027 releases need Node 22 (package-lock.json pins one that runs on 20).
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED := true

.PHONY: help deps tools build generate verify-generated lint typecheck test test-unit test-integration \
        run sandbox sandbox-down demo bench-merge bench-staging bench-agent bench-scale bench-peers bench-adapterset clean image manifests

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.installed ## install npm packages when package-lock.json changed

tools: ## build the pinned local tools (etcd, kube-*, kwok, versitygw, simulator, s5cmd, helm, and the GitOps ones) when missing
	$(TOOLS)
	$(TOOLS) gitops

build: deps ## compile TypeScript into dist/ (bin/graft then runs it)
	$(NODE_BIN)/tsc -p tsconfig.build.json

generate: deps ## write crds/, the chart's data files, manifests/install.yaml and other generated files from their sources
	$(NODE_BIN)/tsx src/cli/main.ts generate
	GRAFT_BIN_HELM=$$($(TOOLS) path helm) $(NODE_BIN)/tsx hack/manifests.ts

verify-generated: deps ## fail when a generated file differs from what is committed
	$(NODE_BIN)/tsx src/cli/main.ts generate --check

manifests: generate ## render manifests/install.yaml from charts/graft (helm template, namespace graft-system); make generate does it too

image: deps ## build Graft's one image (operator, agent, merge) with docker, podman or buildah; IMAGE=repo:tag to rename
	hack/image.sh

typecheck: deps ## type check everything, tests included
	$(NODE_BIN)/tsc --noEmit -p tsconfig.json

lint: deps ## static checks beyond the type checker
	hack/lint.sh

test-unit: deps ## unit tests only (no external processes)
	$(NODE_BIN)/vitest run --project unit

test-integration: deps tools ## tests against the real control plane, S3 and engine simulator (inside hack/netns.sh)
	source <($(TOOLS) env) && $(NETNS) $(NODE_BIN)/vitest run --project integration

# Unit tests first, then the integration tests one file at a time on a quiet machine: their timing
# checks (leader takeover, restarts) should not share the two cores with the merge engine's tests.
test: deps tools lint typecheck verify-generated ## everything CI runs
	$(NODE_BIN)/vitest run --project unit
	source <($(TOOLS) env) && $(NETNS) $(NODE_BIN)/vitest run --project integration

run: deps ## run the operator from source against $$KUBECONFIG
	$(NODE_BIN)/tsx src/cli/main.ts operator

sandbox: deps tools ## start the e2e control plane in the background, in a network namespace of its own (hack/netns.sh); writes .sandbox/kubeconfig and prints how to reach it
	source <($(TOOLS) env) && $(NODE_BIN)/tsx hack/sandbox.ts up

sandbox-down: ## stop the sandbox
	$(NODE_BIN)/tsx hack/sandbox.ts down

demo: deps tools build ## run Graft end to end on the local sandbox; KEEP=1 leaves it running
	source <($(TOOLS) env) && KEEP=$(KEEP) $(NETNS) $(NODE_BIN)/tsx hack/demo.ts

bench-scale: deps tools build ## 1000 Adapters on 20 serving pods in the sandbox; prints figures
	source <($(TOOLS) env) && $(NETNS) $(NODE_BIN)/tsx bench/scale/run.ts

bench-peers: deps tools build ## Graft beside AIBrix v0.6.0 (built by hack/tools.sh aibrix): 1000 adapters x 2 pods on 20 simulated vLLM pods each, in one sandbox (ADAPTERS, PODS, QUIET_S, SIDES, TRACE)
	$(TOOLS) aibrix
	source <($(TOOLS) env) && $(NETNS) $(NODE_BIN)/tsx bench/peers/run.ts

bench-adapterset: deps tools ## an AdapterSet fed 20 rank-16 7B-Llama-shaped tasks on each strategy, in the sandbox (TASKS, LAYERS)
	source <($(TOOLS) env) && $(NETNS) $(NODE_BIN)/tsx bench/adapterset/run.ts

bench-merge: deps ## merge 8 rank-16 adapters of 7B Llama shapes with svd, against the dense approach (numpy)
	bench/merge/run.sh

bench-staging: deps tools ## the agent's S3 downloader against s5cmd, the AWS CLI and a naive GetObject
	source <($(TOOLS) env) && $(NETNS) node --import tsx bench/staging/run.ts

bench-agent: deps tools build ## one compiled agent's CPU: idle, per load of N tiny adapters, idle with N loaded (ADAPTERS, RUNS, IDLE_S, PROFILE=dir)
	source <($(TOOLS) env) && $(NETNS) node --import tsx bench/agent/run.ts

clean: ## remove build outputs (the tool cache outside the repo stays)
	rm -rf dist .sandbox .tmp
