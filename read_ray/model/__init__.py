"""Model-side helpers: generation, training and execution of generated code."""
