"""The probe pool: N Ray actors that load a student checkpoint and each score a shard of the probe suite.

Items are dealt round-robin to the actors (so every shard mixes capabilities and long items spread
out); the driver gathers per-item scores and aggregates them into one report (per-capability mean with a
bootstrap CI, tokens, seconds). A restarted actor rebuilds its shard from the constructor arguments.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from read_ray.config import ReadConfig
from read_ray.content.probe_items.common import ProbeItem
from read_ray.core.statistics import CapabilityScores, aggregate_scores


class ProbeEvaluator:
    """Scores its shard of items under whichever checkpoint it is given (plain values in and out)."""

    def __init__(self, items: Sequence[ProbeItem], scorer: str, num_threads: int = 1):
        self.items, self.scorer, self.num_threads = list(items), scorer, num_threads
        self._loaded: tuple[str, object, object] | None = None

    def _model(self, checkpoint_dir: str):
        if self._loaded is None or self._loaded[0] != checkpoint_dir:
            from read_ray.model.loading import load_for_evaluation, load_tokenizer

            model = load_for_evaluation(checkpoint_dir, num_threads=self.num_threads)   # bf16 on a GPU
            self._loaded = (checkpoint_dir, model, load_tokenizer(checkpoint_dir))
        return self._loaded[1], self._loaded[2]

    def score(self, checkpoint_dir: str) -> tuple[dict[str, float], int, float]:
        """(item_id -> score, tokens processed, seconds)."""
        from read_ray.model.probes import probe_generate_fn, score_items

        start = time.perf_counter()
        if not self.items:
            return {}, 0, 0.0
        model, tokenizer = self._model(checkpoint_dir)
        generate_fn = probe_generate_fn(model, tokenizer, self.items) if self.scorer == "accuracy" else None
        scores, tokens = score_items(model, tokenizer, self.items, scorer=self.scorer,
                                                generate_fn=generate_fn)
        return {i.item_id: s for i, s in zip(self.items, scores, strict=True)}, tokens, time.perf_counter() - start

    def peak_rss_bytes(self) -> int:
        from read_ray.runtime.cluster import peak_rss_bytes

        return peak_rss_bytes()


class ProbePool:
    """A named group of probe actors; `async_evaluate` returns object refs, `evaluate` waits and aggregates."""

    def __init__(self, cfg: ReadConfig, suite: Mapping[str, Sequence[ProbeItem]], *, scorer: str | None = None):
        import ray

        self.suite, self.cfg = suite, cfg
        self.scorer = scorer or cfg.probes.scorer
        items = [item for cap in suite for item in suite[cap]]
        num_actors = max(1, min(cfg.probes.num_actors, len(items)))
        options = {"num_cpus": cfg.resources.probe_cpus_per_actor, "max_restarts": 2, "max_task_retries": 2}
        if cfg.resources.probe_gpus_per_actor:
            options["num_gpus"] = cfg.resources.probe_gpus_per_actor
        self.actors = [
            ray.remote(ProbeEvaluator).options(**options).remote(items[k::num_actors], self.scorer)
            for k in range(num_actors)
        ]

    def async_evaluate(self, checkpoint_dir: str) -> list:
        return [actor.score.remote(checkpoint_dir) for actor in self.actors]

    def evaluate(self, checkpoint_dir: str, *, seed: int = 0, timeout_s: float = 3600,
                 on_scored=None) -> tuple[CapabilityScores, float]:
        """The capability profile of a checkpoint, and the wall-clock seconds it took. `on_scored(items)`
        hears how many items are scored so far each time an actor's shard comes back."""
        import ray
        from ray.exceptions import GetTimeoutError

        start = time.perf_counter()
        scores: dict[str, float] = {}
        tokens = 0
        waiting = self.async_evaluate(checkpoint_dir)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1, timeout=max(0.0, start + timeout_s - time.perf_counter()))
            if not ready:
                raise GetTimeoutError(f"the probe pool scored {len(scores)} items of {checkpoint_dir} in {timeout_s} s")
            part_scores, part_tokens, _ = ray.get(ready[0])
            scores.update(part_scores)
            tokens += part_tokens
            if on_scored is not None:
                on_scored(len(scores))
        report = aggregate_scores(self.suite, scores, tokens, bootstrap_samples=self.cfg.probes.bootstrap_samples,
                                  seed=seed)
        return report, time.perf_counter() - start

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
