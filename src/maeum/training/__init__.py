"""Training-time machinery beside Lightning's: the run config in checkpoints, atomic checkpoint files,
exact resume, and the reports and samples a run writes."""
