"""The page's words, one module per tab (and `page` for the header): sentences and formulas (LaTeX), no computation."""
