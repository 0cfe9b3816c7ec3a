"""Ray adapters: everything that imports ray or deepspeed lives here; no algorithm decisions."""
