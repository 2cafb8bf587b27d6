# The two commands of the README: `make run` and `make test`. Both install dependencies and build first.
BUILD ?= build
JOBS  ?= $(shell nproc)
NASC  := $(BUILD)/nasc
RUN_ARGS ?=

.PHONY: all deps build run test bench clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	$(NASC) search --space nbmacro --data fmnist32 --strategy nasc --epochs 3 --train-limit 8000 \
	  --device-profile profiles/raspi4-nbmacro.json --server-profile profiles/titanrtx-nbmacro.json \
	  --bandwidth 100 --delay 5 --encoding int8 --min-device-blocks 1 --max-latency 12 --seed 1 \
	  --out runs/make-run --resume $(RUN_ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@./scripts/install-deps.sh --bench
	@for b in $(BUILD)/bench_*; do echo "== $$b"; $$b; done
	@for s in bench/*.sh; do echo "== $$s"; $$s $(BUILD); done
	@echo "== bench/pytorch_reference.py (C++ against PyTorch eager, alternating runs)"
	@/usr/bin/python3 bench/pytorch_reference.py --nasc $(NASC) --compare $(BUILD)/bench_train_throughput

clean:
	rm -rf $(BUILD)
