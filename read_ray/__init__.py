"""read_ray: ReAD capability distillation on Ray. Keep this module import-light."""

__version__ = "0.1.0"
