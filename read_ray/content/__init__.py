"""Torch-free content of a run: what the student is taught and tested on.

The prompt generators the teacher answers, the capability pools built from them, the probe items, and the
code sandbox that grades programs. Nothing here imports torch, transformers or Ray (a test checks it);
`read_ray.model` adds the parts that need a model.
"""
