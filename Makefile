# The two commands of the README are scripts/run.sh and scripts/test.sh; this file only names
# the benchmark run.
.PHONY: bench
bench:
	bash scripts/bench.sh
