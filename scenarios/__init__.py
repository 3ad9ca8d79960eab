"""The paper's experiments and evsim's benchmarks as runnable jobs (`python -m scenarios NAME`)."""

SCENARIOS = {
    "bench_engine": "scenarios.bench_engine",
}
