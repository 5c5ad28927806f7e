"""Raw text for pretraining: documents read and split by hash (`documents`), tokenized once into
memory-mapped token streams cut into fixed-length blocks (`blocks`), served by `TextDataModule`."""
