# mk/bench.mk - `make bench`: benchmarks, results in $(BUILD)/bench/results.json plus a
# summary on stdout (bench/run.py says what is measured). Never part of `make test`.
# Generates a synthetic Llama-3.2-1B-shaped model (2.47 GB) into $(BUILD)/bench/synth1b
# once; about 5-15 minutes on 2 cores. Knobs: SQ_BENCH_REPEAT, SQ_BENCH_THREADS,
# SQ_BENCH_SKIP=wasi,generate,kernels, SQ_BENCH_TOKENS (see bench/run.py).

.PHONY: bench
bench: $(BUILD)/sq $(BUILD)/sq-synth $(BUILD)/bench/read_bench
	BUILD=$(BUILD) python3 bench/run.py

# The reading floor: core's safetensors reader, every tensor as float32, one thread.
$(BUILD)/bench/read_bench: bench/read_bench.c $(BUILD)/libsq.a
	@mkdir -p $(dir $@)
	$(CC) $(SQ_CFLAGS) -o $@ $< $(BUILD)/libsq.a $(LDLIBS)

# Inference speed alone (bench/infer.py: build/bench/infer.json); `make bench` runs it too.
.PHONY: bench-infer
bench-infer: $(BUILD)/sq $(BUILD)/sq-synth
	BUILD=$(BUILD) python3 bench/infer.py
