"""Student update: one Ray Train `TorchTrainer` fit per round, DeepSpeed ZeRO inside each worker.

The driver writes the round's training samples to a JSONL file, and every worker computes the same
seeded schedule (`fill_training_cap`) so the tokens trained on are exact and never exceed the round's
training cap; ranks take interleaved slices of it. DeepSpeed detects the accelerator itself (gloo on
CPU, nccl on GPU); the optimizer is a torch AdamW (no op compile). Rank 0 saves the updated student as an
HF directory and reports it as the Ray Train checkpoint that the next round and the probe pool load.

A worker that dies mid-fit makes Ray Train (FailureConfig(max_failures=train.max_failures)) start a new
worker group, which trains the round again from its start checkpoint (the last committed student: nothing
is reported before the end of a fit). Only the attempt that finishes reports tokens, so a round is charged
for what it trained once, exactly as without the failure.

Between rounds the student stays in the training precision: the checkpoint is saved in it (bf16 under
train.precision=bf16) and the next round loads it in it, not in fp32. The optimiser state is *not* carried
across rounds: each fit starts a fresh AdamW (moments at zero) from the last committed weights, so the
first steps of a round take Adam's bias-corrected, un-averaged update; carrying it would mean saving the
full optimiser state (2x the weights in fp32) with every round's student. Its effect is not measured.
Every micro-step trained on is applied: a trailing partial gradient-accumulation step (fewer than
train.grad_accum_steps micro-steps left at the end of the schedule) is stepped as a shorter accumulation
with the same per-micro-step weight, so no token is charged that did not reach the weights.

The torch rendezvous listens on the address Ray advertises for rank 0's node, never on every interface:
`NodeBoundTorchConfig` replaces Ray Train's process-group setup, whose rank-0 TCPStore torch binds to `::`
(torch has no setting for the store's bind address; it does take an already-bound listening socket). On
the local embedded Ray the node address is 127.0.0.1, and gloo/NCCL are pinned to the loopback interface
too; on a cluster it is the node's IP, which the other nodes must reach (`read_ray.runtime.rendezvous`).

The worker group starts each round. Its start-up costs 17-25 s per fit on the `default` preset (at most
11% of a round there, less on a cluster, where a round trains on far more tokens; benchmarks/RESULTS.md).
Keeping one group for the whole run would need a torch process group held across `TorchTrainer.fit`
calls, which Ray Train does not offer.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from read_ray.config import ResourcesConfig, TrainConfig
from read_ray.model.training import TrainingSample, collate, fill_training_cap, sft_loss, topk_kd_loss


def write_samples(samples: list[TrainingSample], path: str | Path) -> None:
    with open(path, "w") as f:
        for s in samples:
            f.write(json.dumps(asdict(s)) + "\n")


def read_samples(path: str | Path) -> list[TrainingSample]:
    samples = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            try:
                d = json.loads(line)
                samples.append(TrainingSample(
                    d["capability"], tuple(d["prompt_ids"]), tuple(d["completion_ids"]),
                    None if d["topk_ids"] is None else tuple(map(tuple, d["topk_ids"])),
                    None if d["topk_logprobs"] is None else tuple(map(tuple, d["topk_logprobs"])),
                ))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no}: corrupt training sample ({exc})") from None
    return samples


def deepspeed_config(train: TrainConfig, world_size: int) -> dict:
    """DeepSpeed config from the train section (torch AdamW is passed as the client optimizer)."""
    config = {
        "train_micro_batch_size_per_gpu": train.micro_batch_size,
        "gradient_accumulation_steps": train.grad_accum_steps,
        "train_batch_size": train.micro_batch_size * train.grad_accum_steps * world_size,
        "zero_optimization": {"stage": train.zero_stage},
        "zero_allow_untested_optimizer": True,
        "gradient_clipping": 1.0,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if train.zero_stage == 3:
        config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] = True
    if train.precision == "bf16":
        config["bf16"] = {"enabled": True}
    elif train.precision == "fp16":
        config["fp16"] = {"enabled": True, "initial_scale_power": 12}
    return config


@dataclass(frozen=True)
class StudentUpdate:
    """What one round's fit reports back to the controller."""
    checkpoint_dir: str                 # HF directory of the updated student
    tokens_by_capability: dict          # exact prompt + label tokens trained on
    loss: float                         # mean training loss over steps
    steps: int
    seconds: float                      # the whole fit, worker group start-up and checkpoint save included
    step_losses: tuple[float, ...] = ()  # per micro-step, mean over the ranks that trained on data
    loop_seconds: float = 0.0           # the training steps alone (slowest rank)
    peak_rss_bytes: int = 0             # largest peak resident set size over the workers


TRAIN_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
"""train.precision -> the dtype the student is loaded in (DeepSpeed keeps fp32 master weights itself)."""


def accumulation_weight(step: int, num_micro_steps: int, grad_accum_steps: int) -> float:
    """Loss weight of micro-step `step` so that every optimizer step averages its micro-steps' gradients.

    DeepSpeed divides each micro-step's loss by grad_accum_steps; a trailing partial step of r < GA
    micro-steps gets weight GA / r, so its gradient is the mean over its r micro-steps, as in a full one.
    """
    tail = num_micro_steps % grad_accum_steps
    if tail and step >= num_micro_steps - tail:
        return grad_accum_steps / tail
    return 1.0


def train_worker(config: dict) -> None:
    """Ray Train per-worker function (config comes through `train_loop_config`, never module globals)."""
    import deepspeed
    import ray.train
    import torch

    from read_ray.model.loading import load_causal_lm, load_tokenizer
    from read_ray.runtime.cluster import peak_rss_bytes

    torch.set_num_threads(config["threads_per_worker"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    train = TrainConfig(**config["train"])
    samples = [s.truncated(train.max_seq_len) for s in read_samples(config["samples_path"])]
    order = fill_training_cap([s.num_tokens for s in samples], config["training_cap_tokens"], config["seed"])
    per_step = train.micro_batch_size * world
    num_micro_steps = math.ceil(len(order) / per_step)
    mine = order[rank::world]

    torch.manual_seed(config["seed"])
    tokenizer = load_tokenizer(config["init_dir"])
    model = load_causal_lm(config["init_dir"], dtype=TRAIN_DTYPES[train.precision])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=deepspeed_config(train, world))

    losses: list[float | None] = []     # per micro-step; None where this rank's slice had run out
    tokens: dict[str, int] = {}
    topk = train.kd_top_k if train.loss == "topk_kd" else 0
    progress = config.get("progress") if rank == 0 else None    # (board, key): a live console watches the fit
    loop_start = posted_s = time.perf_counter()
    for step in range(num_micro_steps):
        batch_ids = mine[step * train.micro_batch_size:(step + 1) * train.micro_batch_size]
        # every rank takes the same number of steps (collectives must match); a rank whose slice ran out
        # repeats its first sample with zero weight, trained on and charged for nothing
        weight = accumulation_weight(step, num_micro_steps, train.grad_accum_steps) if batch_ids else 0.0
        if step == num_micro_steps - 1:      # the last micro-step ends an accumulation, partial or not: apply it
            engine.set_gradient_accumulation_boundary(True)
        batch_samples = [samples[i] for i in (batch_ids or mine[:1] or order[:1])]
        batch = {k: v.to(engine.device) for k, v in collate(batch_samples, tokenizer.pad_token_id, topk=topk).items()}
        logits = engine(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        if topk:
            loss, _ = topk_kd_loss(logits, batch["labels"], batch["topk_ids"], batch["topk_logprobs"], train.kd_weight)
        else:
            loss, _ = sft_loss(logits, batch["labels"])
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite training loss at micro-step {step} on rank {rank}: check that the student "
                f"checkpoint {config['init_dir']} holds finite weights, lower train.lr (now {train.lr}) or "
                f"use train.precision=fp32 (now {train.precision})"
            )
        engine.backward(loss * weight)
        engine.step()
        losses.append(float(loss) if batch_ids else None)
        if progress and losses[-1] is not None and (step + 1 == num_micro_steps
                                                    or time.perf_counter() - posted_s >= 0.5):
            posted_s = time.perf_counter()           # fire and forget: nobody waits on the post
            progress[0].post.remote(progress[1], step + 1, num_micro_steps, loss=losses[-1])
        if batch_ids:
            for s in batch_samples:
                tokens[s.capability] = tokens.get(s.capability, 0) + s.num_tokens

    loop_s = time.perf_counter() - loop_start
    gathered = [None] * world
    torch.distributed.all_gather_object(gathered, {"tokens": tokens, "losses": losses, "loop_s": loop_s,
                                                   "peak_rss_bytes": peak_rss_bytes()})
    all_tokens: dict[str, int] = {}
    for part in gathered:
        for cap, n in part["tokens"].items():
            all_tokens[cap] = all_tokens.get(cap, 0) + n
    all_losses = [x for part in gathered for x in part["losses"] if x is not None]
    per_step = [[x for part in gathered if (x := part["losses"][i]) is not None] for i in range(num_micro_steps)]
    metrics = {"tokens_by_capability": all_tokens, "steps": num_micro_steps,
               "loss": sum(all_losses) / len(all_losses) if all_losses else float("nan"),
               "step_losses": [sum(xs) / len(xs) for xs in per_step if xs],
               "loop_s": max(part["loop_s"] for part in gathered),
               "peak_rss_bytes": max(part["peak_rss_bytes"] for part in gathered)}

    state_dict = engine._zero3_consolidated_16bit_state_dict() if train.zero_stage == 3 else None
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:
            unwrapped = engine.module
            unwrapped.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)


def fit_student(
    samples: list[TrainingSample],
    *,
    init_dir: str,
    training_cap_tokens: int,
    train: TrainConfig,
    resources: ResourcesConfig,
    storage_dir: str,
    name: str,
    seed: int,
    threads_per_worker: int = 1,
    progress: tuple | None = None,
) -> StudentUpdate:
    """Run one Ray Train fit over `samples`; returns the new student's HF directory and exact token counts.
    `progress` (a `console.ProgressBoard` handle and a key): rank 0 posts (step, steps, loss) there."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig, TrainingFailedError
    from ray.train.torch import TorchTrainer

    from read_ray.runtime.rendezvous import NodeBoundTorchConfig

    start = time.perf_counter()
    storage = Path(storage_dir).resolve()
    storage.mkdir(parents=True, exist_ok=True)
    samples_path = storage / f"{name}.samples.jsonl"
    write_samples(samples, samples_path)
    use_gpu = resources.train_gpus_per_worker > 0
    per_worker = {"CPU": resources.train_cpus_per_worker}
    if use_gpu:
        per_worker["GPU"] = resources.train_gpus_per_worker
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={
            "samples_path": str(samples_path), "init_dir": str(init_dir), "seed": seed,
            "training_cap_tokens": training_cap_tokens, "train": asdict(train),
            "threads_per_worker": threads_per_worker, "progress": progress,
        },
        torch_config=NodeBoundTorchConfig(),           # rank 0's rendezvous on the node's address, not on ::
        scaling_config=ScalingConfig(num_workers=resources.train_workers, use_gpu=use_gpu,
                                     resources_per_worker=per_worker),
        run_config=RunConfig(name=name, storage_path=str(storage),
                             failure_config=FailureConfig(max_failures=train.max_failures)),
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as exc:      # name the round: Ray's message only names ranks and steps
        raise RuntimeError(f"student update {name} failed; nothing of this round was committed, a rerun redoes "
                           f"it (Ray Train files: {storage / name}):\n{exc}") from None
    if result.checkpoint is None:
        raise RuntimeError(f"student update {name!r} finished without a checkpoint; see {storage / name}")
    metrics = result.metrics
    os.unlink(samples_path)
    return StudentUpdate(
        checkpoint_dir=result.checkpoint.path, tokens_by_capability=dict(metrics["tokens_by_capability"]),
        loss=float(metrics["loss"]), steps=int(metrics["steps"]), seconds=time.perf_counter() - start,
        step_losses=tuple(float(x) for x in metrics["step_losses"]),
        loop_seconds=float(metrics["loop_s"]), peak_rss_bytes=int(metrics["peak_rss_bytes"]),
    )
