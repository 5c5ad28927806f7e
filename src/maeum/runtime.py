"""What every Hydra entry point shares: config resolvers, the task wrapper, instantiation and reports."""

from __future__ import annotations

import logging
import netrc
import os
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlparse

import rich
import rich.syntax
import rich.table
import rich.tree
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from maeum.data.files import ENCODINGS, decode_text
from maeum.errors import DataError, MaeumError
from maeum.paths import cache_dir, resource
from maeum.runs.kinds import Kind, callback_keys

log = logging.getLogger(__name__)
T = TypeVar("T")


class RankZeroFilter(logging.Filter):
    """Under DDP every rank runs the same code: keep the info and debug lines of rank 0 only (warnings and
    errors of every rank pass). Set on Hydra's log handlers in `conf/hydra/default.yaml`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or rank_zero_only.rank == 0


# --------------------------------------------------------------------------------------------- resolvers
def wandb_mode() -> str:
    """`$WANDB_MODE` if set; else "online" when W&B credentials exist, "offline" when they do not."""
    if mode := os.environ.get("WANDB_MODE"):
        return mode
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return "online" if netrc.netrc(os.environ.get("NETRC")).authenticators(host) else "offline"
    except (OSError, netrc.NetrcParseError):
        return "offline"


def cpu_precision() -> str:
    """Lightning's training precision for this CPU: "bf16-mixed" with native bf16 (AVX512-BF16 or AMX
    tiles), else "32-true" (without them bf16 is emulated, and slower than fp32)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private torch API: guarded
    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return "bf16-mixed" if native else "32-true"


def register_resolvers() -> None:
    """`${maeum.resource:NAME}`, `${maeum.cache_dir:}`, `${maeum.cwd:}`, `${maeum.wandb_mode:}` and
    `${maeum.cpu_precision:}`.

    `maeum.cwd` rather than `hydra:runtime.cwd`, because a multirun's sweeper resolves the sweep
    directory before Hydra's runtime config exists.
    """
    OmegaConf.register_new_resolver("maeum.resource", lambda name: str(resource(name)), replace=True)
    OmegaConf.register_new_resolver("maeum.cwd", os.getcwd, replace=True)
    OmegaConf.register_new_resolver("maeum.cache_dir", lambda: str(cache_dir()), replace=True)
    OmegaConf.register_new_resolver("maeum.wandb_mode", wandb_mode, replace=True)
    OmegaConf.register_new_resolver("maeum.cpu_precision", cpu_precision, replace=True)


register_resolvers()


def read_lines(path: str | Path, what: str) -> list[str]:
    """The lines of a text file given as `input=`: UTF-8 (a BOM is fine) or, as Windows Notepad still writes
    Korean, cp949/EUC-KR (logged); else one `DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found. Set input to a UTF-8 text file with {what} per line.")
    text, encoding = decode_text(path)
    if encoding != ENCODINGS[0]:
        log.info("%s: not UTF-8; read as %s", path, encoding)
    return text.splitlines()


# ------------------------------------------------------------------------------------------ task wrapper
def task_wrapper(task: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
    """Run a task so that a user error ends it with one message, and W&B is always closed."""

    @wraps(task)
    def wrapped(cfg: DictConfig) -> T:
        try:
            return task(cfg)
        except Exception as err:
            user_error = user_error_behind(err)
            if user_error is None:
                raise
            log.error("%s", user_error)
            raise SystemExit(1) from None
        finally:
            if "wandb" in sys.modules:
                import wandb

                if wandb.run is not None:
                    wandb.finish()

    return wrapped


def user_error_behind(err: BaseException | None) -> MaeumError | None:
    """The `MaeumError` behind `err`, also when Hydra's `instantiate` or Lightning wrapped it."""
    while err is not None:
        if isinstance(err, MaeumError):
            return err
        err = err.__cause__ or err.__context__
    return None


# ---------------------------------------------------------------------------------------- config & extras
def require(cfg: DictConfig, keys: list[str] | None = None) -> None:
    """Refuse to start while a `???` setting is unset (`keys`, or anywhere in the config)."""
    missing = sorted(
        OmegaConf.missing_keys(cfg) if keys is None else (k for k in keys if OmegaConf.is_missing(cfg, k))
    )
    if missing:
        raise MaeumError(
            f"missing required setting{'s' * (len(missing) > 1)}: {', '.join(missing)}. "
            f"Set it on the command line, e.g. `{missing[0]}=...`."
        )


def check_argument_types(cfg: DictConfig, keys: Sequence[str]) -> None:
    """Refuse, in one line naming the setting, a scalar that the `_target_` of `cfg[key]` cannot take by its
    signature (`trainer.max_epochs=abc`, `trainer.precision=bf16-mix`), before the object is built and the
    value fails deep inside it (Lightning's "'>' not supported between 'int' and 'str'").

    A target whose `**settings` take a settings dataclass names it in `settings_class` (the DataModules'
    `SplitSettings`): its fields are checked too. Only annotations made of int, float, bool, str, None and
    Literal are checked, by hand: a checker such as typeguard would also judge containers and classes, which
    arrive here as OmegaConf nodes and configs, and which the libraries check themselves.
    """
    for key in keys:
        node = cfg.get(key)
        if not isinstance(node, DictConfig) or "_target_" not in node or node.get("_partial_"):
            continue
        try:
            target = get_object(node._target_)
            hints = get_type_hints(target.__init__ if isinstance(target, type) else target)
            if settings := getattr(target, "settings_class", None):  # what its `**settings` takes
                hints = {**get_type_hints(settings), **hints}
            values = OmegaConf.to_container(node, resolve=True)
        except Exception:  # an unresolvable target, annotation or value: instantiate reports it
            continue
        for name, value in values.items():
            if name in hints and not _accepts(hints[name], value):
                raise MaeumError(
                    f"{key}.{name}={value!r} is not {_described(hints[name])}, which "
                    f"{node._target_.rsplit('.', 1)[-1]}'s {name} takes: set {key}.{name} to one."
                )


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether `value` fits `annotation` as far as its scalar parts tell (anything else: yes)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_accepts(a, value) for a in get_args(annotation))
    if origin is Literal:
        return any(value == v and type(value) is type(v) for v in get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True  # containers, classes, callables, Any


def _described(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        parts = dict.fromkeys(_described(a) for a in get_args(annotation))
        return " or ".join(parts)
    if origin is Literal:
        return "one of " + ", ".join(str(v) for v in get_args(annotation))
    names = {type(None): "null", bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


# What the libraries print that no maeum user can act on, matched exactly (every other warning still shows):
NOT_YOURS = (
    (UserWarning, "'set_vital' is deprecated"),  # torchdata's StatefulDataLoader calls it, not maeum's code
    (Warning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),  # inside Lightning's own pytree helper
    # Lightning's hint for runs started by hand on a SLURM login node; maeum's SLURM runs go through
    # hydra/launcher=slurm, which starts them with srun
    (Warning, "The `srun` command is available on your system but is not used"),
)
LIGHTNING_TIP = "💡 Tip: For seamless cloud logging"  # Lightning's advert for its own logging service


def quiet_library_noise() -> None:
    """Hide `NOT_YOURS` and Lightning's logging tip (idempotent)."""
    for category, message in NOT_YOURS:
        warnings.filterwarnings("ignore", message=message, category=category)
    rank_zero_log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(getattr(f, "__name__", "") == "no_lightning_tip" for f in rank_zero_log.filters):
        rank_zero_log.addFilter(no_lightning_tip)


def no_lightning_tip(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(LIGHTNING_TIP)


def extras(cfg: DictConfig) -> None:
    """Start-of-run checks and utilities: refuse missing settings, silence warnings, print the config."""
    require(cfg)
    quiet_library_noise()
    options = cfg.get("extras") or {}
    if options.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if options.get("print_config"):
        print_config_tree(cfg)


def print_config_tree(cfg: DictConfig) -> None:
    order = ("data", "backbone", "model", "callbacks", "logger", "trainer", "paths", "extras")
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    for key in [*(k for k in order if k in cfg), *(k for k in cfg if k not in order)]:
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        tree.add(key, style="bold").add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)


def tag_run(cfg: DictConfig) -> None:
    """Add the run's experiment, label mask and epochs to `cfg.tags`, and group a multirun's runs.

    The group (the multirun directory's name) goes to every logger config that has a `group` field left
    empty, so W&B shows one sweep as one group; the tags go wherever `${tags}` is used.
    """
    extra = []
    hydra = HydraConfig.get() if HydraConfig.initialized() else None
    if hydra is not None and (experiment := hydra.runtime.choices.get("experiment")):
        extra.append(f"experiment:{experiment}")
    if cfg.get("data") is not None and cfg.data.get("label_mask"):
        extra.append(f"mask:{cfg.data.label_mask}")
    if cfg.get("trainer") is not None and cfg.trainer.get("max_epochs") is not None:
        extra.append(f"epochs:{cfg.trainer.max_epochs}")
    with open_dict(cfg):
        cfg.tags = [*cfg.get("tags", []), *(t for t in extra if t not in cfg.get("tags", []))]
        if hydra is not None and hydra.mode == RunMode.MULTIRUN:
            for logger in (cfg.get("logger") or {}).values():
                if isinstance(logger, DictConfig) and "group" in logger and not logger.group:
                    logger.group = Path(hydra.sweep.dir).name


def save_resolved_config(cfg: DictConfig) -> Path:
    """Write the fully resolved config to `<output_dir>/config.yaml` (Hydra's `.hydra/` keeps the raw one)."""
    path = Path(cfg.paths.output_dir) / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, path, resolve=True)
    return path


def instantiate_list(cfg: DictConfig | None, keys: Sequence[str] | None = None) -> list[Any]:
    """Instantiate every entry (of `keys`, when given) of a config group such as `callbacks` or `logger`
    that has a `_target_`."""
    if not cfg:
        return []
    chosen = [cfg[key] for key in (cfg if keys is None else keys)]
    return [instantiate(node) for node in chosen if isinstance(node, DictConfig) and "_target_" in node]


def instantiate_callbacks(cfg: DictConfig | None, kind: Kind) -> list[Any]:
    """The callbacks of `cfg` that a run of `kind` gets: the general ones and its own
    (`maeum.runs.kinds.callback_keys`); another kind's are left out."""
    return instantiate_list(cfg, keys=callback_keys(kind, list(cfg or {})))


def log_hyperparameters(trainer: Trainer, model: LightningModule, cfg: DictConfig) -> None:
    """Send the resolved config and the parameter counts to every logger."""
    if not trainer.loggers:
        return
    params = {
        "model/params_total": sum(p.numel() for p in model.parameters()),
        "model/params_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    hparams = {**OmegaConf.to_container(cfg, resolve=True), **params}
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)


# --------------------------------------------------------------------------------------------- reporting
def report_metrics(title: str, metrics: Mapping[str, float], baseline: Mapping[str, float]) -> None:
    """Print test metrics next to the majority-class baseline."""
    table = rich.table.Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("majority baseline", justify="right")
    for name in sorted(set(metrics) | set(baseline)):
        model_value = metrics.get(name)
        base_value = baseline.get(name)
        table.add_row(name, _fmt(model_value), _fmt(base_value))
    rich.print(table)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
