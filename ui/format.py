"""Numbers and nouns as the page writes them: durations, sizes, scientific notation, nats, ratios and fractions,
"a digit" / "an image" and an image's size in words."""

from __future__ import annotations

import math

from pipelines.pictures.units import format_bytes, format_duration


def ms(seconds: float) -> str:
    """Seconds as "12.3 ms" or "45 µs"."""
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


def sci_tex(x: float, digits: int = 3) -> str:
    """`sci` for use inside $…$: the same number as LaTeX without the delimiters."""
    shown = sci(x, digits)
    if shown.startswith(r"$\approx"):
        return r"\approx 0"
    return shown.strip("$").replace(",", "{,}")


def sci(x: float | None, digits: int = 3) -> str:
    """A number for the page: "0", "0.0123", "12.3", or LaTeX "$1.23\\times10^{-8}$" for tiny/huge values;
    values below 10⁻¹² (float64 rounding, denormals at small t) are shown as "≈ 0"."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    if abs(x) < 1e-12:
        return r"$\approx 0$ ($<10^{-12}$)"
    if 1e-2 <= abs(x) < 1e5:
        return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:,.{max(0, digits - 1 - int(math.log10(abs(x))))}f}"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return rf"${mantissa}\times10^{{{int(exponent)}}}$"


duration = format_duration  # milliseconds as a person reads them


size_bytes = format_bytes  # bytes in decimal units


def nats(value: float, error: float | None = None) -> str:
    """A KL in nats for the page: 3 significant digits, ± its standard error when given."""
    shown = f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return shown if error is None else f"{shown} ± {error:.1g}"


# ---------------------------------------------------------------------------------------------- the model's data
def a_noun(noun: str) -> str:
    """The noun with its indefinite article: "a digit", "an image"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def image_values(image_shape: tuple[int, int, int]) -> str:
    """What one image is made of: "32×32 pixels" for one channel, "3×64×64 values" for several."""
    c, h, w = image_shape
    return f"{h}×{w} pixels" if c == 1 else f"{c}×{h}×{w} values"


def times(ratio: float) -> str:
    """A ratio as words show it: "3.87×", "1,050×"."""
    return f"{ratio:.3g}×" if ratio < 100 else f"{ratio:,.0f}×"


def shown_ratio(a: str, b: str) -> float:
    """a / b from two numbers as the page shows them ("119 ms", "45 ms"; "0.09", "0.018"): a ratio the page quotes
    beside them then agrees with the reader's own division of what is shown. Different units: nan."""
    (a_value, *a_unit), (b_value, *b_unit) = a.split(" ", 1), b.split(" ", 1)
    if a_unit != b_unit:
        return float("nan")
    return float(a_value.replace(",", "")) / float(b_value.replace(",", ""))


def tex_int(n: int) -> str:
    """A whole number for inside $…$: 4{,}500 (KaTeX sets a bare "4,500" as "4, 500")."""
    return f"{n:,}".replace(",", "{,}")
