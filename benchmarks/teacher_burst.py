"""Teacher deployment under a bounded burst of concurrent requests: throughput and errors.

Starts a local Ray (loopback only), runs the teacher app from a preset (HTTP on 127.0.0.1), then sends
`--requests` concurrent requests over a DeploymentHandle and the same number over HTTP. An answer counts as
an error when the call fails or its token counts disagree with the engine's own prompt count or exceed
the completion cap. Prints one JSON object.

    python benchmarks/teacher_burst.py [--config tiny] [--requests 32] [--max-new-tokens 16] [key.sub=value ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.request import Request, urlopen


def _post(port: int, prompt: str, max_new_tokens: int, seed: int) -> dict:
    body = json.dumps({"prompt": prompt, "max_new_tokens": max_new_tokens, "seed": seed}).encode()
    request = Request(f"http://127.0.0.1:{port}/teacher", data=body, headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=600) as reply:
        return json.loads(reply.read())


def _summary(answers: list, prompt_counts: list[int], max_new_tokens: int, seconds: float) -> dict:
    errors = sum(1 for a, n in zip(answers, prompt_counts, strict=True)
                 if isinstance(a, BaseException) or a["prompt_tokens"] != n
                 or not 1 <= a["completion_tokens"] <= max_new_tokens)
    ok = [a for a in answers if not isinstance(a, BaseException)]
    completion = sum(a["completion_tokens"] for a in ok)
    return {"seconds": round(seconds, 3), "errors": errors, "requests_per_s": round(len(ok) / seconds, 3),
            "completion_tokens_per_s": round(completion / seconds, 2),
            "total_tokens_per_s": round((completion + sum(a["prompt_tokens"] for a in ok)) / seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)

    from read_ray.config import load_config, replace, validate
    from read_ray.runtime.cluster import LOCAL_ENV, free_ports

    for key, value in LOCAL_ENV.items():
        os.environ.setdefault(key, value)
    port, = free_ports(1)
    cfg = validate(replace(load_config(args.config, args.overrides),
                           teacher={"http_enabled": True, "http_host": "127.0.0.1", "http_port": port}))
    prompts = [f"Question {i}: what is {i} plus {3 * i}? Explain in one sentence." for i in range(args.requests)]
    m = args.max_new_tokens

    from read_ray.runtime.cluster import connect
    from read_ray.runtime.teacher import start_teacher, stop_teacher

    with contextlib.redirect_stdout(sys.stderr), connect(cfg, num_cpus=args.num_cpus):
        t0 = time.perf_counter()
        handle = start_teacher(cfg)
        start_s = time.perf_counter() - t0
        try:
            counts = handle.count_prompt_tokens.remote(prompts).result(timeout_s=600)

            async def over_handle():
                calls = [handle.generate.remote(p, m, seed=i) for i, p in enumerate(prompts)]
                return await asyncio.gather(*calls, return_exceptions=True)

            handle.generate.remote(prompts[0], m).result(timeout_s=600)        # warm
            t0 = time.perf_counter()
            via_handle = asyncio.run(over_handle())
            handle_s = time.perf_counter() - t0

            def safe_post(item):
                try:
                    return _post(port, item[1], m, item[0])
                except Exception as exc:  # noqa: BLE001 - counted as an error
                    return exc

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.requests) as pool:
                via_http = list(pool.map(safe_post, enumerate(prompts)))
            http_s = time.perf_counter() - t0
        finally:
            stop_teacher()
    result = {"config": args.config, "teacher": cfg.teacher.model, "replicas": cfg.teacher.replicas,
              "max_batch_size": cfg.teacher.max_batch_size, "requests": args.requests, "max_new_tokens": m,
              "start_s": round(start_s, 2),
              "handle": _summary(via_handle, counts, m, handle_s), "http": _summary(via_http, counts, m, http_s)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
