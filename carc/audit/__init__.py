"""Layer 7: the safety certificate of a program."""
