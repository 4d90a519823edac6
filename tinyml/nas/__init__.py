"""Neural architecture search (TinyNAS-style): models that fit a board's SRAM, flash and latency, searched on the
user's data with a weight-sharing supernet, their memory known exactly from our own planner."""
