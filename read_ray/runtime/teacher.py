"""The teacher on Ray Serve: a deployment that takes its engine by injection.

`TeacherEngine` is the protocol (a batch of prompts -> completions with the prompt and completion token
ids the model consumed and generated, exact counts, the finish reason, optionally top-k log-probabilities
per completion token). Every engine turns a prompt into ids the same way
(`read_ray.model.loading.prompt_token_ids`: chat template rendered once, no second BOS), so
`count_prompt_tokens` is exactly what `generate` will charge. `HFEngine` (transformers, CPU or GPU) is the
default; `VLLMEngine` (extra `gpu`) serves large teachers with tensor parallelism.

An engine's `generate` is either a plain method (a static batch: HF) or a coroutine (an engine that
batches continuously itself: vLLM's `AsyncLLMEngine`). The deployment batches single requests with
`@serve.batch` for the first kind and runs the call in a worker thread, so the replica's event loop keeps
accepting requests (and token counts, health checks, HTTP) while a batch decodes; requests to the second
kind go straight to the engine, concurrently, each with its own seed, and the engine's scheduler merges
them. Replicas, autoscaling, per-replica resources and `max_ongoing_requests` come from config. It is
callable through a handle and, when `teacher.http_enabled`, over HTTP on `teacher.http_host` (127.0.0.1 by
default).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Protocol

from read_ray.config import ReadConfig
from read_ray.model.generation import Completion, check_seed

APP_NAME = "read_ray_teacher"


class TeacherEngine(Protocol):
    def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], *,
                 seeds: Sequence[int]) -> list[Completion] | Awaitable[list[Completion]]:
        """One completion per prompt; a sampled one depends on its prompt, limit and seed only."""
        ...

    def count_prompt_tokens(self, prompts: Sequence[str]) -> list[int]: ...


class HFEngine:
    """transformers generation (CPU or CUDA), chat template applied, greedy when temperature == 0."""

    def __init__(self, model: str, *, num_threads: int = 2, temperature: float = 0.0, top_p: float = 1.0,
                 topk: int = 0):
        import torch

        from read_ray.model.loading import load_causal_lm, load_tokenizer, resolve_model_dir

        path = resolve_model_dir(model)
        self.tokenizer = load_tokenizer(path)
        self.model = load_causal_lm(path, num_threads=num_threads)
        if torch.cuda.is_available():
            self.model = self.model.to("cuda")
        self.temperature, self.top_p, self.topk = temperature, top_p, topk

    def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], *,
                 seeds: Sequence[int]) -> list[Completion]:
        from read_ray.model.generation import generate_batch

        return generate_batch(self.model, self.tokenizer, list(prompts), max_new_tokens=list(max_new_tokens),
                              temperature=self.temperature, top_p=self.top_p, seed=list(seeds), chat=True,
                              topk=self.topk)

    def count_prompt_tokens(self, prompts: Sequence[str]) -> list[int]:
        from read_ray.model.loading import prompt_token_ids

        return [len(ids) for ids in prompt_token_ids(self.tokenizer, list(prompts))]


class VLLMEngine:
    """vLLM on GPUs (pip install 'read_ray[gpu]'); tensor parallel per replica. `generate` blocks: for offline
    use and tests. The deployment serves `AsyncVLLMEngine`, which batches continuously."""

    def __init__(self, model: str, *, tensor_parallel_size: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 topk: int = 0):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise ImportError("teacher.engine=vllm needs vLLM: pip install 'read_ray[gpu]' on a CUDA machine") from exc

        self._setup(model, temperature, top_p, topk)
        self.llm = LLM(model=self.path, tensor_parallel_size=tensor_parallel_size)

    def _setup(self, model: str, temperature: float, top_p: float, topk: int) -> None:
        from read_ray.model.loading import load_tokenizer, resolve_model_dir

        self.path = resolve_model_dir(model)
        self.tokenizer = load_tokenizer(self.path)      # ids are made here, the same way as the HF engine's
        self.temperature, self.top_p, self.topk = temperature, top_p, topk

    def _requests(self, prompts: Sequence[str], max_new_tokens: Sequence[int], seeds: Sequence[int]) -> list:
        """(prompt ids, TokensPrompt, SamplingParams) per prompt: vLLM gets ids, so it adds no BOS of its own."""
        from vllm import SamplingParams

        from read_ray.model.loading import prompt_token_ids

        return [(ids, {"prompt_token_ids": ids},
                 SamplingParams(temperature=self.temperature, top_p=self.top_p, max_tokens=int(m), seed=int(s),
                                logprobs=self.topk or None))
                for ids, m, s in zip(prompt_token_ids(self.tokenizer, list(prompts)), max_new_tokens, seeds,
                                     strict=True)]

    def _completion(self, prompt_ids: list[int], out) -> Completion:
        best = out.outputs[0]
        topk = None
        if self.topk:       # vLLM adds the sampled token when it is not in the top k: keep the k best
            topk = tuple(tuple(sorted(((int(t), float(lp.logprob)) for t, lp in step.items()),
                                      key=lambda x: -x[1])[:self.topk])
                         for step in best.logprobs or ())
        ids = tuple(int(t) for t in best.token_ids)
        return Completion(best.text, len(prompt_ids), len(ids), topk, tuple(prompt_ids), ids,
                          "stop" if best.finish_reason == "stop" else "length")

    def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], *,
                 seeds: Sequence[int]) -> list[Completion]:
        requests = self._requests(prompts, max_new_tokens, seeds)
        outputs = self.llm.generate([r[1] for r in requests], [r[2] for r in requests], use_tqdm=False)
        return [self._completion(r[0], out) for r, out in zip(requests, outputs, strict=True)]

    def count_prompt_tokens(self, prompts: Sequence[str]) -> list[int]:
        from read_ray.model.loading import prompt_token_ids

        return [len(ids) for ids in prompt_token_ids(self.tokenizer, list(prompts))]


class AsyncVLLMEngine(VLLMEngine):
    """vLLM's `AsyncLLMEngine`: `generate` is a coroutine, so the deployment sends it every request as it comes
    and vLLM batches them continuously (requests join and leave the running batch at each step)."""

    def __init__(self, model: str, *, tensor_parallel_size: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 topk: int = 0):
        try:
            from vllm import AsyncEngineArgs, AsyncLLMEngine
        except ImportError as exc:
            raise ImportError("teacher.engine=vllm needs vLLM: pip install 'read_ray[gpu]' on a CUDA machine") from exc

        self._setup(model, temperature, top_p, topk)
        self.engine = AsyncLLMEngine.from_engine_args(
            AsyncEngineArgs(model=self.path, tensor_parallel_size=tensor_parallel_size))
        self._next_id = 0

    async def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], *,
                       seeds: Sequence[int]) -> list[Completion]:
        async def one(prompt_ids, prompt, params) -> Completion:
            self._next_id += 1
            final = None
            async for out in self.engine.generate(prompt, params, f"read_ray-{self._next_id}"):
                final = out
            return self._completion(prompt_ids, final)

        return list(await asyncio.gather(*(one(*r) for r in self._requests(prompts, max_new_tokens, seeds))))


def make_engine_factory(cfg: ReadConfig) -> Callable[[], TeacherEngine]:
    """A picklable zero-argument factory the replica calls once at start (the engine never leaves it)."""
    t = cfg.teacher
    topk = cfg.train.kd_top_k if cfg.train.loss == "topk_kd" else 0
    if t.engine == "vllm":
        return lambda: AsyncVLLMEngine(t.model, tensor_parallel_size=t.tensor_parallel_size, temperature=t.temperature,
                                  top_p=t.top_p, topk=topk)
    return lambda: HFEngine(t.model, num_threads=t.num_threads, temperature=t.temperature, top_p=t.top_p, topk=topk)


def build_app(cfg: ReadConfig, engine_factory: Callable[[], TeacherEngine] | None = None):
    """The Serve application: one deployment, options from config, engine injected."""
    from ray import serve

    t, res = cfg.teacher, cfg.resources

    @serve.deployment(name="teacher")
    class TeacherServer:
        def __init__(self, factory: Callable[[], TeacherEngine], max_batch_size: int, batch_wait_timeout_s: float):
            self.engine = factory()
            self.continuous = inspect.iscoroutinefunction(self.engine.generate)
            self.generate_one.set_max_batch_size(max_batch_size)
            self.generate_one.set_batch_wait_timeout_s(batch_wait_timeout_s)

        @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
        async def generate_one(self, requests: list[dict]) -> list[dict]:
            # a blocking engine decodes in a worker thread: the event loop keeps serving meanwhile
            completions = await asyncio.to_thread(self.engine.generate, [r["prompt"] for r in requests],
                                                  [int(r["max_new_tokens"]) for r in requests],
                                                  seeds=[int(r.get("seed", 0)) for r in requests])
            return [asdict(c) for c in completions]

        async def generate(self, prompt: str, max_new_tokens: int, seed: int = 0) -> dict:
            """One completion: batched by Serve for a blocking engine, sent straight to an async one."""
            seed = check_seed(seed)     # a bad seed fails its own request, not the batch it would join
            if self.continuous:
                completion, = await self.engine.generate([prompt], [int(max_new_tokens)], seeds=[seed])
                return asdict(completion)
            return await self.generate_one({"prompt": prompt, "max_new_tokens": max_new_tokens, "seed": seed})

        def count_prompt_tokens(self, prompts: list[str]) -> list[int]:
            return self.engine.count_prompt_tokens(prompts)

        def peak_rss_bytes(self) -> int:
            from read_ray.runtime.cluster import peak_rss_bytes

            return peak_rss_bytes()

        async def __call__(self, request) -> dict:
            """HTTP: POST {"prompt": ..., "max_new_tokens": ..., "seed": ...} -> completion JSON."""
            body = await request.json()
            return await self.generate(str(body["prompt"]), int(body.get("max_new_tokens", t.max_new_tokens)),
                                       int(body.get("seed", 0)))

    actor_options = {"num_cpus": res.teacher_cpus_per_replica}
    if res.teacher_gpus_per_replica:
        actor_options["num_gpus"] = res.teacher_gpus_per_replica
    deployment = TeacherServer.options(
        num_replicas=t.replicas, max_ongoing_requests=t.max_ongoing_requests, ray_actor_options=actor_options,
    )
    return deployment.bind(engine_factory or make_engine_factory(cfg), t.max_batch_size, t.batch_wait_timeout_s)


def start_teacher(cfg: ReadConfig, engine_factory: Callable[[], TeacherEngine] | None = None, *,
                  app_name: str = APP_NAME):
    """Start Serve (HTTP on the configured loopback host, or no HTTP at all) and run the teacher app."""
    from ray import serve

    t = cfg.teacher
    if t.http_enabled:
        serve.start(proxy_location="HeadOnly", http_options={"host": t.http_host, "port": t.http_port})
    else:
        serve.start(proxy_location="Disabled")
    route = "/teacher" if t.http_enabled else None
    return serve.run(build_app(cfg, engine_factory), name=app_name, route_prefix=route)


def stop_teacher(app_name: str = APP_NAME) -> None:
    """Delete the teacher app; shut Serve down too when no other application is left on it, so the next
    `start_teacher` applies its own HTTP options."""
    from ray import serve

    serve.delete(app_name)
    if not serve.status().applications:
        serve.shutdown()
