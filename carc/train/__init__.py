"""Training: configs, runs, sweeps over seeds and conditions (local processes or Ray), curves."""
