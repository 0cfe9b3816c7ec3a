"""What users run on top of runs: the transition bank (warm start) so far; compare, sweep, identify and
report move here in the renovation of issue 18. Imports runtime; nothing below imports it."""
