# The local lab and the dev stack (Pulumi.dev.yaml), included by the top-level Makefile.
#   make up         install what is missing, build the toolchain and the mirror, pulumi up the dev stack
#   make down       pulumi destroy the dev stack, then remove any lab host, mirror or bridge left
#   make e2e        the lab tests and the end-to-end test with the real Pulumi CLI
#   make lab-hosts  only the dev stack's hosts, without Pulumi (lab/.. key in LAB_WORK/id_ed25519)
#   make lab-clean  everything the lab made, the base rootfs cache and the local Pulumi state too
# See lab/README.md.

LAB_SH := lab/lab.sh
LAB_STACK ?= dev
LAB_STACK_FILE := Pulumi.$(LAB_STACK).yaml
LAB_WORK ?= /var/lib/k8s-from-scratch-lab
TOOLCHAIN_DIR ?= /var/cache/k8s-from-scratch/toolchain
PULUMI_VERSION ?= $(shell . toolchain/versions.env && echo $$K8SFS_PULUMI_VERSION)
LAB_STATE ?= $(CURDIR)/.state/pulumi
# The dev stack's secrets (its generated keys) are encrypted with this in the local state.
PULUMI_CONFIG_PASSPHRASE ?= k8s-from-scratch-lab

# The Pulumi CLI we built, with its language host next to it, against a local file backend.
LAB_PULUMI_ENV := PATH="$(TOOLCHAIN_DIR)/pulumi/$(PULUMI_VERSION):$$PATH" \
	PULUMI_BACKEND_URL="file://$(LAB_STATE)" \
	PULUMI_CONFIG_PASSPHRASE="$(PULUMI_CONFIG_PASSPHRASE)" \
	PULUMI_SKIP_UPDATE_CHECK=true \
	PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
	K8SFS_TOOLCHAIN_DIR="$(TOOLCHAIN_DIR)"
LAB_PULUMI := $(LAB_PULUMI_ENV) pulumi

.PHONY: up down e2e lab-deps lab-toolchain lab-mirror lab-stack lab-hosts lab-clean lab-status

lab-deps: deps
	./lab/install-deps.sh

# What the Go module proxy here serves: it refuses the Pulumi CLI, its plugins and cri-tools
# (toolchain/README.md), so the lab runs the program's graph with tests/harness/replay.py.
LAB_COMPONENTS ?= kubernetes etcd cni containerd

lab-toolchain: lab-deps
	K8SFS_TOOLCHAIN_DIR="$(TOOLCHAIN_DIR)" toolchain/build.sh $(LAB_COMPONENTS)

lab-mirror: lab-toolchain
	K8SFS_TOOLCHAIN_DIR="$(TOOLCHAIN_DIR)" $(PY) -m lab.mirror build --stack-file $(LAB_STACK_FILE) >/dev/null

lab-stack:
	mkdir -p "$(LAB_STATE)"
	$(LAB_PULUMI) stack select --create $(LAB_STACK) >/dev/null

# With a Pulumi CLI (PATH or the toolchain) this is `pulumi up`; without one (the module proxy
# here refuses it) the same program's graph is replayed on the hosts (tests/harness/replay.py).
HAVE_PULUMI = $(shell PATH="$(TOOLCHAIN_DIR)/pulumi/$(PULUMI_VERSION):$$PATH" command -v pulumi >/dev/null 2>&1 && echo yes)

up: lab-mirror
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) base
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) revive
ifeq ($(HAVE_PULUMI),yes)
	$(MAKE) lab-stack
	$(LAB_PULUMI) up --yes --stack $(LAB_STACK)
else
	@echo "no Pulumi CLI on this machine: replaying the program's graph on the lab hosts instead"
	$(PY) -m tests.harness.replay up --stack-file $(LAB_STACK_FILE)
endif

down:
ifeq ($(HAVE_PULUMI),yes)
	$(MAKE) lab-stack
	$(LAB_PULUMI) destroy --yes --stack $(LAB_STACK)
else
	$(PY) -m tests.harness.replay down --stack-file $(LAB_STACK_FILE)
endif
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) clean

e2e: lab-mirror
	$(LAB_SH) base
	$(LAB_PULUMI_ENV) $(PY) -m pytest -m lab -s tests/test_lab_real.py tests/test_lab_replay.py tests/test_lab_e2e.py

lab-hosts: lab-deps
	@mkdir -p "$(LAB_WORK)"
	@test -f "$(LAB_WORK)/id_ed25519" || ssh-keygen -q -t ed25519 -N '' -f "$(LAB_WORK)/id_ed25519"
	$(PY) -m lab.mirror hosts --stack-file $(LAB_STACK_FILE) | while read -r name ip; do \
		K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) create "$$name" "$$ip" "$$(cat $(LAB_WORK)/id_ed25519.pub)" || exit 1; \
	done
	@echo "ssh -i $(LAB_WORK)/id_ed25519 root@<address>"

lab-status:
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) status

lab-clean:
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) clean --all
	rm -rf "$(LAB_STATE)"
