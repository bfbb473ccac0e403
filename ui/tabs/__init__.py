"""The tabs, one module each: a class with `title`, `layout()` (short named sections) and its handlers."""
