"""Layer 4: analyses of a checked program: cost and lints."""
