# Options for bench/run.py, e.g. make bench BENCH_ARGS="--engine-sizes 10,50 --engine-timeout 900"
# (the real engine at two sizes), or BENCH_ARGS=--no-engine; python -m bench.run --help lists them.
BENCH_ARGS ?=

bench: deps
	$(PY) -m bench.run $(BENCH_ARGS)
