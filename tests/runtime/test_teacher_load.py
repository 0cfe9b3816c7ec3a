"""The teacher deployment under a bounded burst of concurrent requests (loopback only): every answer
arrives, and its text and token counts equal what the engine itself gives for that prompt alone."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.request import Request, urlopen

import pytest

from read_ray.config import load_config, replace
from read_ray.runtime.cluster import free_ports
from read_ray.runtime.teacher import HFEngine, start_teacher, stop_teacher

BURST = 32
MAX_NEW_TOKENS = 6


def burst_prompts(n: int) -> list[str]:
    return [f"Question {i}: what is {i} plus {i * 3}? Answer briefly." + " Thanks." * (i % 4) for i in range(n)]


def post(port: int, prompt: str, seed: int) -> dict:
    body = json.dumps({"prompt": prompt, "max_new_tokens": MAX_NEW_TOKENS, "seed": seed}).encode()
    request = Request(f"http://127.0.0.1:{port}/teacher", data=body, headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=300) as reply:
        return json.loads(reply.read())



@pytest.mark.timeout(600)
def test_burst_over_handle_and_http_keeps_exact_token_counts(ray_cluster, tiny_dir):
    import psutil

    port, = free_ports(1)
    cfg = replace(load_config("tiny"), teacher={"model": tiny_dir, "http_enabled": True, "http_port": port,
                                                "max_batch_size": 8, "max_ongoing_requests": 16})
    prompts = burst_prompts(BURST)
    engine = HFEngine(tiny_dir, num_threads=1)
    alone = [engine.generate([p], [MAX_NEW_TOKENS], seeds=[0])[0] for p in prompts]
    counted = engine.count_prompt_tokens(prompts)
    handle = start_teacher(cfg)
    try:
        async def over_handle():
            responses = [handle.generate.remote(p, MAX_NEW_TOKENS, seed=i) for i, p in enumerate(prompts)]
            return await asyncio.gather(*responses)
        via_handle = asyncio.run(over_handle())
        with ThreadPoolExecutor(BURST) as pool:
            via_http = list(pool.map(lambda ip: post(port, ip[1], ip[0]), enumerate(prompts)))
        bound = {c.laddr.ip for c in psutil.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    finally:
        stop_teacher()
    assert bound and bound <= {"127.0.0.1", "::ffff:127.0.0.1"}, bound
    for answers in (via_handle, via_http):
        assert len(answers) == BURST
        for a, ref, n_prompt in zip(answers, alone, counted, strict=True):
            assert a["prompt_tokens"] == ref.prompt_tokens == n_prompt
            assert a["completion_tokens"] == ref.completion_tokens <= MAX_NEW_TOKENS
            assert a["text"] == ref.text
