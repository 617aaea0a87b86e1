bench: deps
	$(PY) -m bench.run
