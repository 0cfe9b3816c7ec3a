"""The teacher on Ray Serve: a deployment that takes its engine by injection.

`TeacherEngine` is the protocol (a batch of prompts -> completions with exact token counts, optionally
top-k log-probabilities per completion token). `HFEngine` (transformers, CPU or GPU) is the default;
`VLLMEngine` (extra `gpu`) serves large teachers with tensor parallelism. The deployment batches single
requests with `@serve.batch`; replicas, autoscaling, per-replica resources and `max_ongoing_requests`
come from config. It is callable through a handle and, when `teacher.http_enabled`, over HTTP on
`teacher.http_host` (127.0.0.1 by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Protocol

from read_ray.config import ReadConfig
from read_ray.model.generation import Completion

APP_NAME = "read_ray_teacher"


class TeacherEngine(Protocol):
    def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], *, seed: int) -> list[Completion]: ...
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

    def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], *, seed: int) -> list[Completion]:
        from read_ray.model.generation import generate_batch

        return generate_batch(self.model, self.tokenizer, list(prompts), max_new_tokens=list(max_new_tokens),
                              temperature=self.temperature, top_p=self.top_p, seed=seed, chat=True, topk=self.topk)

    def count_prompt_tokens(self, prompts: Sequence[str]) -> list[int]:
        from read_ray.model.loading import apply_chat_template

        return [len(self.tokenizer(apply_chat_template(self.tokenizer, p), add_special_tokens=False)["input_ids"])
                for p in prompts]


class VLLMEngine:
    """vLLM on GPUs (pip install 'read_ray[gpu]'); tensor parallel per replica."""

    def __init__(self, model: str, *, tensor_parallel_size: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 topk: int = 0):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise ImportError("teacher.engine=vllm needs vLLM: pip install 'read_ray[gpu]' on a CUDA machine") from exc
        from read_ray.model.loading import resolve_model_dir

        self.llm = LLM(model=resolve_model_dir(model), tensor_parallel_size=tensor_parallel_size)
        self.tokenizer = self.llm.get_tokenizer()
        self.temperature, self.top_p, self.topk = temperature, top_p, topk

    def _chat(self, prompts: Sequence[str]) -> list[str]:
        from read_ray.model.loading import apply_chat_template

        return [apply_chat_template(self.tokenizer, p) for p in prompts]

    def generate(self, prompts: Sequence[str], max_new_tokens: Sequence[int], *, seed: int) -> list[Completion]:
        from vllm import SamplingParams

        params = [SamplingParams(temperature=self.temperature, top_p=self.top_p, max_tokens=int(m), seed=seed + i,
                                 logprobs=self.topk or None) for i, m in enumerate(max_new_tokens)]
        outputs = self.llm.generate(self._chat(prompts), params, use_tqdm=False)
        completions = []
        for out in outputs:
            best = out.outputs[0]
            topk = None
            if self.topk and best.logprobs:
                topk = tuple(tuple(sorted(((tid, lp.logprob) for tid, lp in step.items()), key=lambda x: -x[1]))
                             for step in best.logprobs)
            completions.append(Completion(best.text, len(out.prompt_token_ids), len(best.token_ids), topk))
        return completions

    def count_prompt_tokens(self, prompts: Sequence[str]) -> list[int]:
        return [len(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in self._chat(prompts)]


def make_engine_factory(cfg: ReadConfig) -> Callable[[], TeacherEngine]:
    """A picklable zero-argument factory the replica calls once at start (the engine never leaves it)."""
    t = cfg.teacher
    topk = cfg.train.kd_top_k if cfg.train.loss == "topk_kd" else 0
    if t.engine == "vllm":
        return lambda: VLLMEngine(t.model, tensor_parallel_size=t.tensor_parallel_size, temperature=t.temperature,
                                  top_p=t.top_p, topk=topk)
    return lambda: HFEngine(t.model, num_threads=t.num_threads, temperature=t.temperature, top_p=t.top_p, topk=topk)


def batch_seed(seeds: Sequence[int]) -> int:
    """One decoding seed for a Serve batch, a pure function of its members' seeds (order-free)."""
    digest = hashlib.sha256(",".join(map(str, sorted(seeds))).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def build_app(cfg: ReadConfig, engine_factory: Callable[[], TeacherEngine] | None = None):
    """The Serve application: one deployment, options from config, engine injected."""
    from ray import serve

    t, res = cfg.teacher, cfg.resources

    @serve.deployment(name="teacher")
    class TeacherServer:
        def __init__(self, factory: Callable[[], TeacherEngine], max_batch_size: int, batch_wait_timeout_s: float):
            self.engine = factory()
            self.generate_one.set_max_batch_size(max_batch_size)
            self.generate_one.set_batch_wait_timeout_s(batch_wait_timeout_s)

        @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
        async def generate_one(self, requests: list[dict]) -> list[dict]:
            completions = self.engine.generate([r["prompt"] for r in requests],
                                               [int(r["max_new_tokens"]) for r in requests],
                                               seed=batch_seed([int(r.get("seed", 0)) for r in requests]))
            return [asdict(c) for c in completions]

        async def generate(self, prompt: str, max_new_tokens: int, seed: int = 0) -> dict:
            """One completion; concurrent calls are batched by Serve."""
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
