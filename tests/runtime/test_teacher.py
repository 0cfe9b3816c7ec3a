"""The teacher deployment on real Ray Serve: same tokens and counts as its engine, batching, HTTP on loopback,
an event loop that a decoding batch does not block, async engines served request by request."""

import asyncio
import json
import time
import urllib.request

import psutil
import pytest
import torch

from read_ray.config import load_config, replace
from read_ray.core.prompts import Prompt
from read_ray.core.rounds import RoundPlan
from read_ray.model.generation import Completion
from read_ray.model.training import IGNORE_INDEX, collate
from read_ray.runtime.cluster import free_ports
from read_ray.runtime.supervision import collect_generation, launch_generation
from read_ray.runtime.teacher import HFEngine, start_teacher, stop_teacher

PROMPTS = ["What is 2 + 2?", "Name a colour.", "Write one word.", "Count to three."]


class RecordingEngine:
    """A fake at the engine boundary (our own protocol): echoes prompts, tagged with the batch size it saw."""

    def generate(self, prompts, max_new_tokens, *, seeds):
        return [Completion(f"{len(prompts)}|{p.upper()[:m]}|{s}", len(p.split()), min(m, len(p)), None)
                for p, m, s in zip(prompts, max_new_tokens, seeds, strict=True)]

    def count_prompt_tokens(self, prompts):
        return [len(p.split()) for p in prompts]


class SlowEngine(RecordingEngine):
    """A blocking engine that takes 3 s per batch, like a long decode."""

    def generate(self, prompts, max_new_tokens, *, seeds):
        time.sleep(3.0)
        return super().generate(prompts, max_new_tokens, seeds=seeds)


class AsyncEngine:
    """An engine whose generate is a coroutine (our protocol's shape of vLLM's AsyncLLMEngine): reports how
    many calls were in it at once, the prompts per call and the seed it got."""

    def __init__(self):
        self.inside = self.peak = 0

    async def generate(self, prompts, max_new_tokens, *, seeds):
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        await asyncio.sleep(0.5)
        self.inside -= 1
        return [Completion(f"{len(prompts)}|{self.peak}|{s}", 1, 1) for s in seeds]

    def count_prompt_tokens(self, prompts):
        return [1 for _ in prompts]



@pytest.mark.timeout(300)
def test_deployment_matches_engine_and_serves_http(ray_cluster, tiny_dir):
    port, = free_ports(1)
    cfg = replace(load_config("tiny"), teacher={"model": tiny_dir, "temperature": 0.0, "http_enabled": True,
                                                "http_port": port, "max_batch_size": 4},
                  train={"loss": "topk_kd", "kd_top_k": 3})
    engine = HFEngine(tiny_dir, num_threads=1, topk=3)
    direct = engine.generate(PROMPTS, [8] * len(PROMPTS), seeds=range(len(PROMPTS)))
    handle = start_teacher(cfg)
    try:
        responses = [handle.generate.remote(p, 8, seed=i) for i, p in enumerate(PROMPTS)]
        served = [r.result(timeout_s=120) for r in responses]
        for d, s in zip(direct, served, strict=True):
            assert s["text"] == d.text
            assert (s["prompt_tokens"], s["completion_tokens"]) == (d.prompt_tokens, d.completion_tokens)
        counts = handle.count_prompt_tokens.remote(PROMPTS).result(timeout_s=60)
        assert counts == [d.prompt_tokens for d in direct]
        body = json.dumps({"prompt": PROMPTS[0], "max_new_tokens": 8}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/teacher", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            over_http = json.loads(reply.read())
        assert over_http["text"] == direct[0].text
        # the replica's own peak, in bytes: at least the weights it loaded (the engine's model here)
        weights_bytes = sum(p.numel() * p.element_size() for p in engine.model.parameters())
        peak = handle.peak_rss_bytes.remote().result(timeout_s=60)
        assert weights_bytes <= peak <= psutil.virtual_memory().total

        # The round's path: what is charged is what the engine consumed; samples are its ids as they are
        # (the tiny random model never stops: every answer is cut at its limit and gets no eos), with one
        # teacher top-k row per label, so topk_kd batches collate
        prompts = tuple(Prompt("math", f"math/t{i}", i, text, ()) for i, text in enumerate(PROMPTS))
        plan = RoundPlan(round_index=0, allocation=(1.0,), prompts=prompts, prompts_per_capability={"math": 4},
                         max_new_tokens={"math": 8}, generation_cap_tokens=10_000, training_cap_tokens=10_000,
                         progress_frac=0.0, recent_source_ids={}, blocked_count=0, capped_count=0)
        summary, samples, rows = collect_generation(launch_generation(handle, plan, seed=0), engine.tokenizer)
        assert summary.prompt_tokens["math"] == sum(counts) == sum(len(d.prompt_ids) for d in direct)
        assert [r["finish_reason"] for r in rows] == ["length"] * 4
        assert [s.prompt_ids for s in samples] == [d.prompt_ids for d in direct]
        assert all(len(s.completion_ids) == len(s.topk_ids) == 8 and engine.tokenizer.eos_token_id not in
                   s.completion_ids for s in samples)
        batch = collate(samples, engine.tokenizer.pad_token_id, topk=3)
        assert torch.equal(batch["topk_ids"][batch["labels"] != IGNORE_INDEX][:, 0],     # greedy: top-1 = label
                           batch["labels"][batch["labels"] != IGNORE_INDEX])
    finally:
        stop_teacher()


@pytest.mark.timeout(300)
def test_serve_batches_concurrent_requests(ray_cluster):
    cfg = replace(load_config("tiny"), teacher={"max_batch_size": 4, "max_ongoing_requests": 8,
                                                "batch_wait_timeout_s": 0.2})
    handle = start_teacher(cfg, engine_factory=RecordingEngine)
    try:
        async def burst():
            responses = [handle.generate.remote(f"prompt number {i}", 5, seed=i) for i in range(8)]
            bad = handle.generate.remote("a bad seed among them", 5, seed=-1)
            results = [await r for r in responses]
            with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\)"):
                await bad                                     # fails alone: its batch mates were answered
            return results
        results = asyncio.run(burst())
        sizes = [int(r["text"].split("|")[0]) for r in results]
        assert [r["text"].split("|")[1] for r in results] == [f"PROMPT NUMBER {i}"[:5] for i in range(8)]
        assert [r["text"].split("|")[2] for r in results] == [str(i) for i in range(8)]   # each its own seed
        assert max(sizes) <= 4 and max(sizes) > 1            # batched, never beyond max_batch_size
    finally:
        stop_teacher()


@pytest.mark.timeout(300)
def test_a_decoding_batch_does_not_block_the_replica(ray_cluster):
    handle = start_teacher(load_config("tiny"), engine_factory=SlowEngine)
    try:
        handle.count_prompt_tokens.remote(["warm up"]).result(timeout_s=60)
        pending = handle.generate.remote("a long answer", 5)
        time.sleep(0.5)                                      # the batch is decoding now
        start = time.perf_counter()
        assert handle.count_prompt_tokens.remote(["two words"]).result(timeout_s=60) == [2]
        assert time.perf_counter() - start < 1.5             # answered during the 3 s decode, not after it
        assert pending.result(timeout_s=60)["text"] == "1|A LON|0"
    finally:
        stop_teacher()


@pytest.mark.timeout(300)
def test_an_async_engine_gets_every_request_concurrently(ray_cluster):
    cfg = replace(load_config("tiny"), teacher={"max_batch_size": 4, "max_ongoing_requests": 8})
    handle = start_teacher(cfg, engine_factory=AsyncEngine)
    try:
        responses = [handle.generate.remote(f"prompt {i}", 5, seed=100 + i) for i in range(8)]
        texts = [r.result(timeout_s=60)["text"].split("|") for r in responses]
        assert [t[0] for t in texts] == ["1"] * 8                    # one request per call: no static batch
        assert [t[2] for t in texts] == [str(100 + i) for i in range(8)]    # each with its own seed
        assert max(int(t[1]) for t in texts) > 4                     # in the engine together, beyond a batch
    finally:
        stop_teacher()
