# pyvirt — the two commands for a newcomer are `make demo` and `make test`.
# Both run `make setup`, which installs everything on a fresh Debian 12 machine
# and does nothing when it is all there already.

SHELL := /bin/bash
# Debian's own Python when it is there (the `python3` package below): it is built
# with PGO and LTO, and starts and runs pyvirt ~30% faster than a plain source
# build such as pyenv's that may come first on PATH.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
GUEST_DIR := build/guest

# Debian packages: QEMU and qemu-img, dnsmasq (the binary only: no host service),
# nftables, iproute2, the real virsh and libvirt-python (our compatibility test
# clients), busybox/e2fsprogs/cpio for the test guest, tmux for console tests.
APT_PACKAGES := python3 python3-venv python3-pip qemu-system-x86 qemu-utils dnsmasq-base nftables \
	iproute2 libvirt-clients python3-libvirt busybox-static e2fsprogs cpio procps curl tmux \
	file xz-utils kmod ca-certificates

.PHONY: setup apt qemu-user venv guest test unit integration lint demo bench clean distclean

setup: apt qemu-user venv guest

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else echo "==> Debian packages present"; fi

# pyvirtd runs QEMU as this unprivileged user (like libvirt's libvirt-qemu).
qemu-user:
	@id -u pyvirt-qemu >/dev/null 2>&1 || { echo "==> creating system user pyvirt-qemu"; \
	  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pyvirt-qemu; }

# A venv made by another Python than $(PYTHON) is made again.
venv:
	@if [ -f $(VENV)/pyvenv.cfg ] && ! grep -qx "executable = $$(readlink -f "$$(command -v $(PYTHON))")" $(VENV)/pyvenv.cfg; then \
	  echo "==> $(VENV) was made by another Python than $(PYTHON): making it again"; rm -rf $(VENV); fi
	@$(MAKE) --no-print-directory $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml
	@echo "==> creating $(VENV) with pyvirt and its test tools"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# pyvirsh and pyvirtd without site.py and pip's `import re`: faster start-up (src/pyvirt/launcher.py).
	$(PY) -m pyvirt.launcher
	@touch $@
	@# Byte-compile now: pyvirsh starts faster, even where PYTHONDONTWRITEBYTECODE is set.
	@$(PY) -m compileall -q src >/dev/null

guest: $(GUEST_DIR)/SHA256SUMS

$(GUEST_DIR)/SHA256SUMS: scripts/build-guest.sh $(wildcard guest/*)
	@echo "==> building the test guest in $(GUEST_DIR)"
	sh scripts/build-guest.sh $(GUEST_DIR)

test: setup
	$(VENV)/bin/pytest -q -ra tests
	$(MAKE) --no-print-directory lint

unit: venv
	$(VENV)/bin/pytest -q tests/unit

integration: setup
	$(VENV)/bin/pytest -q -ra tests/integration

lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

demo: setup
	$(PY) scripts/demo.py

# Side-by-side benchmarks against the real libvirt 9.0 (bench/README.md).  libvirtd is
# installed with a policy-rc.d guard, so the package cannot start it (and virbr0) in the
# host's namespace; on a systemd host its units are also masked.  The harness runs it
# only inside its own network namespace.
BENCH_APT := libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-daemon-config-network
BENCH_ARGS ?=

bench: setup
	@missing=""; for p in $(BENCH_APT); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing libvirtd for the benchmarks:$$missing"; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
	    trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
	  fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing || exit 1; \
	  if [ -d /run/systemd/system ]; then \
	    systemctl mask -q libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket \
	      libvirtd-tcp.socket libvirtd-tls.socket virtlogd.service virtlogd.socket virtlogd-admin.socket; \
	  fi; \
	else echo "==> libvirtd present"; fi
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf build/tmp .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) build
