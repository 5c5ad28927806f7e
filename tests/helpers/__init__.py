"""What the tests share besides fixtures, importable as `helpers.*` wherever `tests/` is on `sys.path`
(pytest puts it there: `pythonpath = ["tests"]` in pyproject.toml; an IDE's pytest runner reads the same).

- `helpers.configs`: the repository, the shared corpora, and `compose_config` (Hydra configs in tmp dirs)
- `helpers.runs`: reading a finished run's directory (best checkpoint, trained epochs)
- `helpers.run_dirs`: maeum-train run directories written without training, in the real formats (the
  leaderboard's input)
- `helpers.encodings`: digests of what every shipped dialogue experiment encodes
- `helpers.corpora`: small corpus files in the exact schemas of the real corpora
- `helpers.bench`: running a benchmark script (`scripts/bench_*.py`) and reading its `name=value` lines
- `helpers.resume`: ways to die, for the kill-safe resume tests (loaded by `maeum.train` subprocesses)
- `helpers.entry_points`: `python -m maeum.<job>` and `python scripts/<name>.py` in processes of their own,
  forked from a server that has imported what they import (`helpers.preloaded`)
- `helpers.legacy`: an earlier commit's code checked out and run (train, export, predict, chat)
- `helpers.slurm`: the session's single-node SLURM cluster and the runs of tests/test_slurm.py

Fixtures stay in `tests/conftest.py`, which no test imports. This package imports nothing heavy
itself, so that a subprocess that needs `helpers.resume` loads only that.
"""
