"""Pure wire mapping: request bodies in, typed results out. No I/O."""
