"""A run's metrics from its W&B run file (`wandb/*run-*/run-*.wandb`, offline or synced), for runs
without a CSV log."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path

from maeum.errors import MaeumError

BLOCK = 32768  # a LevelDB-log block, in bytes
CHUNK_HEADER = 7  # crc32c (4 bytes), length (2), type (1)


def wandb_rows(path: Path) -> list[dict[str, float]] | None:
    """The numeric values of every history record of the run in `path` (one dict per `log` call), or None
    without a W&B run file."""
    files = sorted(path.glob("wandb/*run-*/run-*.wandb"))
    if not files:
        return None
    rows = []
    for file in files:
        for record in read_wandb_records(file):
            if record.WhichOneof("record_type") == "history":
                row = {}
                for item in record.history.item:
                    key = item.key or "/".join(item.nested_key)
                    value = json.loads(item.value_json)
                    if isinstance(value, int | float):
                        row[key] = float(value)
                rows.append(row)
    return rows


def read_wandb_records(path: Path) -> Iterable:
    """The protobuf records of a W&B run file (`run-<id>.wandb`).

    wandb 0.31 no longer ships a Python reader for its own run files, so this reads the format directly:
    a 7-byte header (`:W&B`, magic 0xBEE1, version 0), then LevelDB-log blocks of 32 KiB whose chunks
    (crc32c, length, type: full/first/middle/last) carry serialised `wandb_internal_pb2.Record`s.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise MaeumError(f"{path}: not a W&B run file")
    pos = 7  # past the file header
    pending = b""
    while pos + CHUNK_HEADER <= len(data):
        if BLOCK - pos % BLOCK < CHUNK_HEADER:  # a block's tail too short for a chunk header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        chunk = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == 0 and length == 0:  # zero padding
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):  # full, or the last piece of a split record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""
