"""Student training throughput and MFU (DeepSpeed ZeRO-2, bf16) and HF-engine generation throughput of
randomly initialised Llama-architecture models; prints one JSON object. Run by benchmarks/gpu_check.sh.

    python benchmarks/gpu_throughput.py [--sizes 0.5b,1.5b] [--seq-len 1024] [--micro-batch 8] [--steps 10]
        [--gen-batches 1,16,64] [--prompt-tokens 128] [--new-tokens 128] [--tokenizer DIR] [--peak-tflops X]
    python benchmarks/gpu_throughput.py --sizes tiny      # the same code path on CPU in seconds (gloo)

Training: one process, `deepspeed.initialize` with read_ray's own DeepSpeed config (`runtime.student.
deepspeed_config`: ZeRO stage 2, bf16, torch AdamW as the client optimizer), random token batches of
`--micro-batch` x `--seq-len`, `--warmup` untimed steps then `--steps` timed ones (CUDA synchronised).
MFU = model FLOPs per token x tokens/s / the device's peak dense bf16 FLOP/s, with model FLOPs per
token = 6 N + 12 L h s (PaLM's count: N = weights of every matmul, the LM head included, the embedding
lookup not; L layers, h hidden size, s sequence length; no causal discount, no recompute counted).
Generation: read_ray's HF engine decode loop (`model.generation.generate_batch`, greedy, KV cache, bf16
on CUDA) with every prompt `--prompt-tokens` long and exactly `--new-tokens` generated: EOS is taken out
of the random model's reach (its output-embedding rows are zeroed, so its logit is 0 while the maximum of
~49k random logits is positive) and every completion's length is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from read_ray.runtime.cluster import LOCAL_ENV  # noqa: E402  (imports no ray)

for _key, _value in LOCAL_ENV.items():          # offline hubs; DeepSpeed's CPU op cache (PLATFORM.md)
    os.environ.setdefault(_key, _value)

# name -> (hidden, intermediate, layers, attention heads, key/value heads); vocab = the tokenizer's (49,152)
SIZES = {
    "tiny": (64, 128, 2, 4, 2),
    "0.5b": (1024, 4096, 28, 16, 8),         # ~0.49 B parameters with the tied 49k embedding
    "1.5b": (2048, 8192, 23, 32, 8),         # ~1.50 B
}
# peak dense bf16 tensor FLOP/s (vendor datasheets), matched against torch.cuda.get_device_name()
PEAK_BF16_TFLOPS = [("H200", 989.4), ("GH200", 989.4), ("H100 PCIe", 756.0), ("H100", 989.4), ("H800", 989.4),
                    ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.1), ("L40", 181.0),
                    ("A10G", 70.0), ("A10", 125.0), ("L4", 121.0), ("A6000", 154.8)]


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS:
        if key in device_name:
            return value
    return None


def llama_config(size: str, vocab: int, seq_len: int, tokenizer):
    from transformers import LlamaConfig

    hidden, inter, layers, heads, kv = SIZES[size]
    return LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=max(seq_len, 4096),
                       tie_word_embeddings=True, rms_norm_eps=1e-5, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def matmul_params(model) -> int:
    """Weights that take part in a matmul per token: every Linear, the (tied) LM head included."""
    import torch

    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def train_row(size: str, args, tokenizer, device: str) -> dict:
    import deepspeed
    import torch
    from transformers import LlamaForCausalLM

    from read_ray.config import TrainConfig
    from read_ray.runtime.student import deepspeed_config

    config = llama_config(size, len(tokenizer), args.seq_len, tokenizer)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if args.grad_checkpointing:
        model.gradient_checkpointing_enable()
    params, n_matmul = sum(p.numel() for p in model.parameters()), matmul_params(model)
    train = TrainConfig(zero_stage=2, precision="bf16", micro_batch_size=args.micro_batch, grad_accum_steps=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device == "cuda")
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=deepspeed_config(train, 1))
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, len(tokenizer), (args.micro_batch, args.seq_len), generator=gen)
               for _ in range(args.warmup + args.steps)]

    def step(engine, ids) -> float:
        ids = ids.to(engine.device)
        loss = engine(input_ids=ids, labels=ids).loss
        engine.backward(loss)
        engine.step()
        return loss.item()

    for ids in batches[:args.warmup]:
        step(engine, ids)
    sync(device)
    t0 = time.perf_counter()
    losses = [step(engine, ids) for ids in batches[args.warmup:]]
    sync(device)
    seconds = time.perf_counter() - t0
    tokens = args.steps * args.micro_batch * args.seq_len
    flops_per_token = 6 * n_matmul + 12 * config.num_hidden_layers * config.hidden_size * args.seq_len
    row = {"size": size, "params": params, "matmul_params": n_matmul, "layers": config.num_hidden_layers,
           "hidden": config.hidden_size, "seq_len": args.seq_len, "micro_batch": args.micro_batch,
           "steps": args.steps, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
           "model_tflops_per_s": round(flops_per_token * tokens / seconds / 1e12, 2),
           "loss_first_last": [round(losses[0], 3), round(losses[-1], 3)],
           "zero_stage": 2, "precision": "bf16", "grad_checkpointing": args.grad_checkpointing}
    if device == "cuda":
        row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    if args.peak is not None:
        row["mfu"] = round(row["model_tflops_per_s"] / args.peak, 4)
    del engine, model, optimizer
    free(device)
    return row


def generation_rows(size: str, args, tokenizer, device: str) -> list[dict]:
    import torch
    from transformers import LlamaForCausalLM

    from read_ray.model.generation import eos_token_ids, generate_batch

    config = llama_config(size, len(tokenizer), args.prompt_tokens + args.new_tokens, tokenizer)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.eval()
    with torch.no_grad():
        for eos in eos_token_ids(model, tokenizer):       # EOS can never be the argmax: fixed lengths
            model.get_output_embeddings().weight[eos].zero_()
    word = next(w for w in (" hello", " the", " a") if len(tokenizer(w * 8, add_special_tokens=False)["input_ids"]) == 8)
    prompts = [word * args.prompt_tokens] * max(args.gen_batches)       # same length: no padding
    generate_batch(model, tokenizer, prompts[:1], max_new_tokens=4, chat=False)        # warm-up
    rows = []
    for b in args.gen_batches:
        sync(device)
        t0 = time.perf_counter()
        out = generate_batch(model, tokenizer, prompts[:b], max_new_tokens=args.new_tokens, chat=False)
        sync(device)
        seconds = time.perf_counter() - t0
        completion = sum(c.completion_tokens for c in out)
        rows.append({"size": size, "batch": b, "prompt_tokens": out[0].prompt_tokens, "new_tokens": args.new_tokens,
                     "all_full_length": all(c.completion_tokens == args.new_tokens for c in out),
                     "seconds": round(seconds, 3), "completion_tokens_per_s": round(completion / seconds, 1),
                     "ms_per_decode_step": round(1000 * seconds / args.new_tokens, 2)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    del model
    free(device)
    return rows


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def free(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def init_single_process() -> None:
    """torch.distributed with one rank (nccl on CUDA, gloo on CPU: DeepSpeed picks its accelerator itself)."""
    import deepspeed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "LOCAL_RANK": "0",
                       "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}.items():
        os.environ.setdefault(key, value)
    deepspeed.init_distributed(verbose=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.5b,1.5b", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--seq-len", type=int, default=None, help="default 1024 (tiny: 64)")
    parser.add_argument("--micro-batch", type=int, default=None, help="default 8 (tiny: 2)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps, default 10 (tiny: 2)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--grad-checkpointing", action="store_true")
    parser.add_argument("--gen-batches", default=None, help="default 1,16,64 (tiny: 1,4)")
    parser.add_argument("--prompt-tokens", type=int, default=None, help="default 128 (tiny: 16)")
    parser.add_argument("--new-tokens", type=int, default=None, help="default 128 (tiny: 8)")
    parser.add_argument("--tokenizer", default=os.environ.get("READ_RAY_TEACHER_DIR"),
                        help="tokenizer directory (default $READ_RAY_TEACHER_DIR, else the bundled teacher's)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak bf16 TFLOP/s for MFU")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-gen", action="store_true")
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    if unknown := [s for s in sizes if s not in SIZES]:
        parser.error(f"unknown size(s) {unknown}; choose from {', '.join(SIZES)}")
    tiny = sizes == ["tiny"]
    for name, big, small in (("seq_len", 1024, 64), ("micro_batch", 8, 2), ("steps", 10, 2),
                             ("prompt_tokens", 128, 16), ("new_tokens", 128, 8)):
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else big)
    args.gen_batches = [int(b) for b in (args.gen_batches or ("1,4" if tiny else "1,16,64")).split(",")]

    import torch

    from read_ray.model.loading import BUNDLED_TEACHER, load_tokenizer, resolve_model_dir

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not tiny:
        parser.error("no CUDA device: only --sizes tiny runs on the CPU")
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    args.peak = args.peak_tflops or (peak_tflops(device_name) if device == "cuda" else None)
    tokenizer = load_tokenizer(args.tokenizer or resolve_model_dir(BUNDLED_TEACHER))
    result = {"benchmark": "gpu_throughput", "device": device_name, "gpus": torch.cuda.device_count(),
              "torch": torch.__version__, "peak_bf16_tflops": args.peak, "train": [], "generation": []}
    t0 = time.perf_counter()
    if not args.skip_train:
        init_single_process()
        for size in sizes:
            try:
                result["train"].append(train_row(size, args, tokenizer, device))
            except Exception as exc:  # noqa: BLE001 - an OOM on a small GPU is a row, the other sizes still run
                result["train"].append({"size": size, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
                free(device)
            print(json.dumps(result["train"][-1]), file=sys.stderr)
    if not args.skip_gen:
        for size in sizes:
            try:
                result["generation"] += generation_rows(size, args, tokenizer, device)
            except Exception as exc:  # noqa: BLE001
                result["generation"].append({"size": size, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
                free(device)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=1))
    failed = [r for r in result["train"] + result["generation"] if "error" in r or r.get("all_full_length") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
