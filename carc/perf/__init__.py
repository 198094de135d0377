"""Layer 10: benchmarks and the hand-written reference kernels."""
