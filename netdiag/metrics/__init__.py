"""Pure statistics: no I/O, no clocks; results are frozen dataclasses."""
