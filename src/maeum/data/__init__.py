"""Corpora → canonical records → token ids → batches (see ../shared/DESIGN.md, "The data path")."""
