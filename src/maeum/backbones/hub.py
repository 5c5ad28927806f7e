"""Where a backbone's files come from: a local directory, or a Hugging Face Hub id probed once.

When the hub cannot be reached and nothing is cached, loading fails at once with one message that names the
id and says how to point maeum at a local copy, instead of a minute of retries.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import huggingface_hub
from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

from maeum.errors import BackboneError

log = logging.getLogger(__name__)

HUB_TIMEOUT_S = 10.0


def fetch(source: str, filename: str, local_only: bool) -> Path | None:
    """`filename` from a local directory or a hub repo (downloaded and cached), or None if it has none."""
    if Path(source).is_dir():
        path = Path(source) / filename
        return path if path.is_file() else None
    try:
        return Path(huggingface_hub.hf_hub_download(source, filename, local_files_only=local_only))
    except EntryNotFoundError:
        return None


def looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


@functools.cache
def resolve_hub_id(repo_id: str) -> tuple[str, bool]:
    """Probe the hub once (no retries) so that an unreachable hub fails in seconds, not minutes."""
    cached = isinstance(huggingface_hub.try_to_load_from_cache(repo_id, "config.json"), str)
    how_to = (
        f"To use it offline, download it where there is network (`hf download {repo_id} --local-dir DIR`), "
        "copy DIR here and set backbone.name_or_path=DIR. For a model that needs no download: "
        "backbone=tiny_bert or backbone=tiny_gpt2."
    )
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        if cached:
            return repo_id, True
        raise BackboneError(f"backbone '{repo_id}' is not cached and HF_HUB_OFFLINE is set. {how_to}")
    try:
        huggingface_hub.model_info(repo_id, timeout=HUB_TIMEOUT_S)
    except GatedRepoError as err:
        raise BackboneError(
            f"backbone '{repo_id}' is gated on the Hugging Face Hub: accept its licence on the model page, "
            f"then log in (`hf auth login` or HF_TOKEN). {how_to}"
        ) from err
    except RepositoryNotFoundError as err:
        raise BackboneError(
            f"backbone '{repo_id}' does not exist on the Hugging Face Hub (or is private): check the id, "
            "or point backbone.name_or_path at a local directory."
        ) from err
    except Exception as err:  # connection refused, DNS failure, timeout, proxy or server error
        if cached:
            log.warning("Hub unreachable (%s); using the cached copy of %s", type(err).__name__, repo_id)
            return repo_id, True
        raise BackboneError(
            f"backbone '{repo_id}' cannot be loaded: it is not a local directory, the Hugging Face Hub "
            f"cannot be reached ({type(err).__name__}: {err}) and no cached copy exists. {how_to}"
        ) from err
    return repo_id, False
