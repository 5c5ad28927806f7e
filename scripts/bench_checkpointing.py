"""Benchmark: `model.gradient_checkpointing=true` against false, for both LightningModules, in one process.

Each module is built from maeum's own configs (`experiment=emotion/sample_tiny`, `experiment=chatbot/
sample_tiny`) with `backbone.name_or_path` pointed at a randomly initialised backbone of the given shape
(default 12 layers x 768, KoBERT's and KoGPT2's; the tiny backbones' tokenizers). Both settings start from
the same weights and take the same AdamW steps over the same batches of the bundled sample (batches of
64, as the KoBERT and KoGPT2 recipes). Prints, per module, the losses of both runs, their largest
difference, and the peak tensor memory of the measured training steps above what existed before them
(weights and optimizer states: one unmeasured step comes first; CPU: the profiler's allocator totals, as
`bench_chat.py` measures them), and `<module>_checkpointing_peak_mem_ratio` (with over without).

    python scripts/bench_checkpointing.py [--layers 12] [--width 768] [--steps 3] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
from pathlib import Path

import torch
from bench_chat import peak_memory
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

import maeum.runtime  # noqa: F401  (registers the ${maeum.*} resolvers)
from maeum.backbones import resolve
from maeum.paths import config_dir
from maeum.runs.kinds import model_config

MODULES = {
    "classifier": ("emotion/sample_tiny", "tiny_bert"),
    "chat_lm": ("chatbot/sample_tiny", "tiny_gpt2"),
}


def shaped_backbone(tiny: str, layers: int, width: int, out: Path) -> Path:
    """`tiny`'s tokenizer beside a randomly initialised model of `layers` x `width`."""
    source = Path(resolve(tiny)[0])
    shutil.copytree(source, out)
    config = AutoConfig.from_pretrained(source)
    if config.model_type == "gpt2":
        config.update({"n_layer": layers, "n_embd": width, "n_head": width // 64})
        model = AutoModelForCausalLM.from_config(config)
    else:
        config.update({"num_hidden_layers": layers, "hidden_size": width, "num_attention_heads": width // 64,
                       "intermediate_size": 4 * width})  # fmt: skip
        model = AutoModel.from_config(config)
    model.save_pretrained(out)
    return out


def train_steps(module, optimizer: torch.optim.Optimizer, batches: list) -> list[float]:
    module.train()
    losses = []
    for i, batch in enumerate(batches):
        loss = module.training_step(batch, i)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
    return losses


def compare(name: str, experiment: str, backbone: Path, steps: int, batch_size: int) -> None:
    """Train `experiment`'s module with and without gradient checkpointing; print losses and peak memory."""
    overrides = [f"experiment={experiment}", f"backbone.name_or_path={backbone}", "data.cache_dir=null",
                 f"data.batch_size={batch_size}"]  # fmt: skip
    results = {}
    for label, flag in (("plain", "false"), ("checkpointing", "true")):
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            cfg = compose("train", overrides=[*overrides, f"model.gradient_checkpointing={flag}"])
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        batches = list(itertools.islice(itertools.cycle(datamodule.train_dataloader()), steps + 1))
        torch.manual_seed(0)  # the same head initialisation; the backbone weights come from disk
        module = instantiate(model_config(cfg), **datamodule.model_kwargs())
        torch.manual_seed(1)  # the same dropout masks
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
        losses = train_steps(module, optimizer, batches[:1])  # the optimizer's states exist from here on
        peak = peak_memory(lambda: losses.extend(train_steps(module, optimizer, batches[1:])), "cpu")  # noqa: B023
        results[label] = (losses, peak)
        print(f"{name}_{label}_losses=" + " ".join(f"{x:.4f}" for x in losses))
        print(f"{name}_{label}_peak_mem_mb={peak / 2**20:.1f}")
    (plain, plain_peak), (checkpointed, checkpointed_peak) = results["plain"], results["checkpointing"]
    print(f"{name}_loss_max_abs_diff={max(abs(a - b) for a, b in zip(plain, checkpointed, strict=True)):.2e}")
    print(f"{name}_checkpointing_peak_mem_ratio={checkpointed_peak / plain_peak:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--steps", type=int, default=3, help="measured steps, after one that is not")
    parser.add_argument("--batch-size", type=int, default=64, help="the KoBERT and KoGPT2 recipes' 64")
    args = parser.parse_args()
    print(f"backbone_shape={args.layers}x{args.width} steps={args.steps} batch_size={args.batch_size}")
    print(f"torch_threads={torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (experiment, tiny) in MODULES.items():
            backbone = shaped_backbone(tiny, args.layers, args.width, Path(tmp) / name)
            compare(name, experiment, backbone, args.steps, args.batch_size)


if __name__ == "__main__":
    main()
