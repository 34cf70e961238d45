"""Pure domain logic: no I/O, every timestamp passed in."""
