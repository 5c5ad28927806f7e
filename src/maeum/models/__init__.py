"""LightningModules (the systems) and the networks they train."""
