"""Layer 5: numba code generation from the IR, the generated-source whitelist, the kernel cache."""
