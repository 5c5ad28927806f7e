"""Hydra launchers (`conf/hydra/launcher/`): where and how the runs of a multirun are started."""
