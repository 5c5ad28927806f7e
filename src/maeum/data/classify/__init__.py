"""Classification data: readers of (text, label) corpora and their DataModule."""
