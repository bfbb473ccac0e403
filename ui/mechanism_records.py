"""The tab "Why doesn't p_θ copy?", part 4's shipped denoiser records: which UNets were measured (the page's own, with
self-attention, and the attention-free UNet of the MNIST transition at its largest N, where the patch posterior's
conditions hold more closely), read from their folders, and their words: the median r² of the LS, exact and ELS
machines per band of t, and the two UNets compared. The tab (ui/tabs/mechanism.py) shows what this module returns."""

from __future__ import annotations

import json

from pipelines.data.record import model_data_folder
from pipelines.exact.denoiser_record import RECORD_FILE
from pipelines.exact.heldout_seed import load_heldout
from pipelines.transition import mnist as transition_mnist

RECORD_INTRO = r"""
#### The shipped measurement: every machine, more samples
"""


PAGE_UNET = (
    "The UNet loaded on this page (the Sample tab's model; it has self-attention layers at low resolution, through "
    "which a pixel can see the whole image)"
)


def attention_free_label(n: int) -> str:
    """The label of the attention-free UNet's record (one of the MNIST pair trained on n digits)."""
    return (
        "A UNet with no attention layers, so that every output pixel sees only a neighbourhood of the input (the "
        "locality the patch posterior assumes): one of the pair trained on $N = "
        + f"{n:,}".replace(",", "{,}")
        + '$ digits for tab "Copies or new points?"; its patch size fitted to it, the same way'
    )


def attention_compared(with_attention: dict, without: dict) -> str:
    """Where the attention-free UNet matches LS worse than the attention UNet (median r² per band of t), and what
    the exact posterior's column says about it; empty where it matches LS about as well everywhere."""
    theirs = {(b["low"], b["high"]): b for b in with_attention.get("bands", [])}
    worse = [
        (b, theirs[(b["low"], b["high"])])
        for b in without.get("bands", [])
        if (b["low"], b["high"]) in theirs
        and None not in (b.get("local"), theirs[(b["low"], b["high"])].get("local"))
        and b["local"] < theirs[(b["low"], b["high"])]["local"] - 0.1
    ]
    if not worse:
        return ""
    cells = "; ".join(f"$t \\in [{b['low']}, {b['high']})$" + f": {_r2(b['local'])} against {_r2(o['local'])}"
                      for b, o in worse)  # fmt: skip
    exact = "; ".join(f"{_r2(b.get('exact'))} against {_r2(o.get('exact'))}" for b, o in worse)
    return (
        "\n\n**The two UNets at large $t$.** Measured, not predicted: the attention-free UNet, built for the patch "
        f"posterior's locality, matches LS *worse* than the attention UNet there ({cells}). Its exact-posterior "
        f"column falls as far ({exact}), so this is not locality failing: this UNet's guess there also differs "
        "more from the training set's average, and every guess is then close to the mean digit, so $r^2$ compares "
        "small differences, near its noise floor. The table says no more than that."
    )


def records_text(records: list[tuple[str, dict, dict | None, bool]], noun: str) -> str:
    """The shipped records' section: its heading, each record's paragraph and table (label, record, held-out seed,
    whether the UNet has attention), and the two UNets compared."""
    out = RECORD_INTRO + "\n\n".join(record_text(r, label, noun, held, attn) for label, r, held, attn in records)
    if len(records) == 2 and records[0][3] and not records[1][3]:
        out += attention_compared(records[0][1], records[1][1])
    return out


def record_text(record: dict, label: str, noun: str, heldout: dict | None = None, attention: bool = True) -> str:
    """A paragraph and a Markdown table from a shipped denoiser record (`python -m pipelines.exact.denoisers`):
    the median r² to the UNet's x̂0 per band of t for the LS, exact and ELS machines, each sampler's copies, and,
    with heldout (`pipelines.exact.heldout_seed`'s record), LS and exact on a seed the patch size was not fitted on."""
    subset = record.get("equivariant_subset") or {}
    els_n = subset.get("images_compared", 0)
    held = {(b["low"], b["high"]): b for b in (heldout or {}).get("bands", [])}
    seed = record.get("seed")
    head = f"| $t$ band | steps | local (LS), seed {seed} | exact, seed {seed} |"
    rule = "|---|---:|---:|---:|"
    if held:
        head += f" LS, seed {heldout['seed']} | exact, seed {heldout['seed']} |"
        rule += "---:|---:|"
    head += f" ELS, seed {seed} ({els_n} {noun}s: smaller) |"
    rule += "---:|"
    rows = [head, rule]
    diffs = []
    for band in record.get("bands", []):
        cells = [_r2(band.get("local")), _r2(band.get("exact"))]
        other = held.get((band["low"], band["high"]))
        if held:
            cells += [_r2((other or {}).get("local")), _r2((other or {}).get("exact"))]
            if other and None not in (other.get("local"), band.get("local"), other.get("exact"), band.get("exact")):
                diffs.append((abs(other["local"] - band["local"]), abs(other["exact"] - band["exact"]), band))
        cells.append(_r2(band.get("equivariant")))
        rows.append(f"| [{band['low']}, {band['high']}) | {band['steps']} | " + " | ".join(cells) + " |")
    names = {"model": "UNet", "local": "LS", "equivariant": "ELS", "exact": "exact"}
    copies = []
    for key, name in names.items():
        flags = record.get("samplers", {}).get(key, {}).get("copy")
        if flags:
            copies.append(f"{name} {sum(flags)} of {len(flags)}")
    words = (
        f"**{label}.** Median $r^2$ to the UNet's $\\hat x_0$ per band of $t$, over {record.get('batch_size')} "
        f"{noun}s from seed {record.get('seed')} ({record.get('num_inference_steps')} steps, this UNet's own "
        "calibrated patch size per $t$). That patch size was fitted on seeds 0 and 1, so the seed-"
        f"{record.get('seed')} columns are partly in-sample."
    )
    if held and diffs:
        local, exact, band = max(diffs, key=lambda d: d[0])
        words += (
            f" On seed {heldout['seed']}, which the fit never saw ({heldout['batch_size']} {noun}s), LS's $r^2$ "
            f"stays within {local:.2f} of seed {record.get('seed')}'s in every band, most in "
            f"[{band['low']}, {band['high']}), "
            f"where the exact posterior's, which involves no fit, moves by {exact:.2f} too: other {noun}s, not a "
            "worse fit. The fit holds out of sample."
        )
    searched = f"{subset.get('size', 0):,} of the {subset.get('of', 0):,} training {noun}s"
    words += f" Copies by the rule: {', '.join(copies)}.\n\n" + (
        f"The **ELS column is the weaker, smaller measurement**: ELS compares every pixel with every patch at every "
        f"position of every training {noun}, too slow for this page, so it searches only {searched} (a seeded "
        f"random subset), was run on {els_n} {noun}s, and uses the patch size fitted for LS, not one fitted for "
        "ELS. Its low $r^2$ at larger $t$ is a statement about this rough set-up, not a clean test of "
        "equivariance; the UNet is not exactly equivariant anyway (zero padding tells it where the border is; "
        "self-attention sees the whole image)."
        if attention
        else f"**ELS**, set up as above ({searched}, {els_n} {noun}s, LS's patch size), is again the rough "
        "measurement. This UNet has no attention, so no pixel sees the whole image; only its zero padding, which "
        "tells it where the border is, keeps it from being exactly equivariant."
    )
    same = {(b["low"], b["high"]): b for b in record.get("bands_same_images", [])}
    pairs = {
        k: (next(v for n, v in b.items() if n.startswith("local_first")), b.get("equivariant"))
        for k, b in same.items()
        if any(n.startswith("local_first") for n in b) and b.get("equivariant") is not None
    }
    pairs = {k: v for k, v in pairs.items() if v[0] is not None}
    if pairs:
        key = max(pairs, key=lambda k: pairs[k][0] - pairs[k][1])
        local, els = pairs[key]
        band = {"equivariant": els}
        words += (
            f" On the same {els_n} {noun}s, LS gives {_r2(local)} and ELS {_r2(band.get('equivariant'))} at "
            f"$t \\in [{key[0]}, {key[1]})$."
        )
    return words + "\n\n" + "\n".join(rows)


def _r2(value) -> str:
    return "–" if value is None else f"{value:.2f}"


NO_RECORD = "No shipped measurement for this model yet."


def shipped_records(model_id) -> list[tuple[str, dict, dict | None, bool]]:
    """(label, record, held-out seed's record or None, whether the UNet has attention) per shipped record: the
    model's own (its folder's RECORD_FILE), then the attention-free pair model at the largest N."""
    out = []
    folder = model_data_folder(model_id)
    if folder is not None and (folder / RECORD_FILE).is_file():
        out.append((PAGE_UNET, json.loads((folder / RECORD_FILE).read_text()), load_heldout(folder), True))
    pairs = transition_mnist.pair_folders() if transition_mnist.DEFAULT_FOLDER.is_dir() else {}
    if pairs:
        n = max(pairs)
        path = pairs[n][0] / RECORD_FILE
        if path.is_file():
            out.append((attention_free_label(n), json.loads(path.read_text()), load_heldout(pairs[n][0]), False))
    return out


def records_markdown(model_id, noun: str) -> str | None:
    """The records' section as Markdown, None when none is shipped."""
    records = shipped_records(model_id)
    return records_text(records, noun) if records else None
