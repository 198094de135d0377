"""Layer 9: trajectories, scoring against expert and random play, properties, the report."""
