"""Preference data: pairs of a preferred (`chosen`) and a dispreferred (`rejected`) reply to one prompt, read
from preference files (`readers`) or built from a dialogue corpus (`pairs`), and the DataModule that encodes
them through the dialogue layout (`datamodule`)."""
