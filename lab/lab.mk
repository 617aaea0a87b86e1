# The local lab and the dev stack (Pulumi.dev.yaml), included by the top-level Makefile.
#   make up         install what is missing, build the engine, toolchain and mirror, pulumi up
#   make down       pulumi destroy the dev stack, then remove any lab host, mirror or bridge left
#   make e2e        the lab tier: the real Pulumi CLI against lab hosts (tests/test_lab_*.py)
#   make repair     find and repair host drift on the dev stack, also while its API is down
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
# The dev stack's secrets (its generated keys) are encrypted with this in the local state: a
# lab's passphrase, documented in README.md; never use it for a real stack.
PULUMI_CONFIG_PASSPHRASE ?= k8s-from-scratch-lab

# The Pulumi CLI toolchain/build.sh built (language host next to it), else the one on PATH,
# against a local file backend.
LAB_PULUMI_ENV := PATH="$(TOOLCHAIN_DIR)/pulumi/$(PULUMI_VERSION):$$PATH" \
	PULUMI_BACKEND_URL="file://$(LAB_STATE)" \
	PULUMI_CONFIG_PASSPHRASE="$(PULUMI_CONFIG_PASSPHRASE)" \
	PULUMI_SKIP_UPDATE_CHECK=true \
	PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
	K8SFS_TOOLCHAIN_DIR="$(TOOLCHAIN_DIR)"
LAB_PULUMI := $(LAB_PULUMI_ENV) pulumi

.PHONY: lab-deps lab-toolchain lab-mirror lab-stack lab-hosts lab-clean lab-status repair

# Only what running the lab needs: Debian packages for the hosts and the program's own venv.
lab-deps:
	./lab/install-deps.sh

# The engine (a pulumi on PATH with the pinned plugins is used as is; else built), the binaries
# the lab hosts install and the images they pull (served by the lab's registry).
LAB_COMPONENTS ?= engine kubernetes etcd cni containerd crictl kube-bench

lab-toolchain: lab-deps
	K8SFS_TOOLCHAIN_DIR="$(TOOLCHAIN_DIR)" toolchain/build.sh $(LAB_COMPONENTS)
	K8SFS_TOOLCHAIN_DIR="$(TOOLCHAIN_DIR)" toolchain/images.sh build

lab-mirror: lab-toolchain
	K8SFS_TOOLCHAIN_DIR="$(TOOLCHAIN_DIR)" $(PY) -m lab.mirror build --stack-file $(LAB_STACK_FILE) >/dev/null

lab-stack:
	@mkdir -p "$(LAB_STATE)"
	@$(LAB_PULUMI) stack select --create $(LAB_STACK) >/dev/null

up: lab-mirror
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) base
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) revive
	@$(MAKE) --no-print-directory lab-stack
	$(LAB_PULUMI) up --yes --stack $(LAB_STACK)
	@$(LAB_PULUMI_ENV) lab/after-up.sh $(LAB_STACK) "$(CURDIR)/.state/$(LAB_STACK)-admin.conf"

down: lab-toolchain
	@$(MAKE) --no-print-directory lab-stack
	$(LAB_PULUMI) destroy --yes --stack $(LAB_STACK)
	K8SFS_LAB_WORK_DIR="$(LAB_WORK)" $(LAB_SH) clean

repair: lab-stack
	$(LAB_PULUMI_ENV) $(PY) -m scripts.repair_hosts --stack $(LAB_STACK)

e2e: lab-mirror deps
	$(LAB_SH) base
	$(LAB_PULUMI_ENV) $(PY) -m pytest -m lab -s tests/test_lab_real.py tests/test_lab_images.py tests/test_lab_e2e.py \
		tests/test_engine_preview.py

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
