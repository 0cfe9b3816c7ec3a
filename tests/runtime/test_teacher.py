"""The teacher deployment on real Ray Serve: same tokens and counts as its engine, batching, HTTP on loopback."""

import asyncio
import json
import urllib.request

import pytest

from read_ray.config import load_config, replace
from read_ray.model.generation import Completion
from read_ray.runtime.cluster import free_ports
from read_ray.runtime.teacher import HFEngine, batch_seed, start_teacher, stop_teacher

PROMPTS = ["What is 2 + 2?", "Name a colour.", "Write one word.", "Count to three."]


class RecordingEngine:
    """A fake at the engine boundary (our own protocol): echoes prompts, tagged with the batch size it saw."""

    def generate(self, prompts, max_new_tokens, *, seed):
        return [Completion(f"{len(prompts)}|{p.upper()[:m]}", len(p.split()), min(m, len(p)), None)
                for p, m in zip(prompts, max_new_tokens, strict=True)]

    def count_prompt_tokens(self, prompts):
        return [len(p.split()) for p in prompts]



@pytest.mark.timeout(300)
def test_deployment_matches_engine_and_serves_http(ray_cluster, tiny_dir):
    port, = free_ports(1)
    cfg = replace(load_config("tiny"), teacher={"model": tiny_dir, "temperature": 0.0, "http_enabled": True,
                                                "http_port": port, "max_batch_size": 4})
    engine = HFEngine(tiny_dir, num_threads=1)
    direct = engine.generate(PROMPTS, [8] * len(PROMPTS), seed=0)
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
        assert handle.peak_rss_bytes.remote().result(timeout_s=60) > 50 * 2**20
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
            return [await r for r in responses]
        results = asyncio.run(burst())
        sizes = [int(r["text"].split("|")[0]) for r in results]
        assert [r["text"].split("|")[1] for r in results] == [f"PROMPT NUMBER {i}"[:5] for i in range(8)]
        assert max(sizes) <= 4 and max(sizes) > 1            # batched, never beyond max_batch_size
    finally:
        stop_teacher()


def test_batch_seed_is_order_free():
    assert batch_seed([3, 1, 2]) == batch_seed([1, 2, 3]) != batch_seed([1, 2, 4])
