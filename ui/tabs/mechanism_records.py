"""The mechanism tab's shipped denoiser records: the page's own UNet and the attention-free UNet of the MNIST
transition at its largest N (where the patch posterior's conditions hold more closely)."""

from __future__ import annotations

import json

from pipelines.data.record import model_data_folder
from pipelines.exact.denoiser_record import RECORD_FILE
from pipelines.exact.heldout_seed import load_heldout
from pipelines.transition import mnist as transition_mnist
from ui.text import mechanism_records as text


def shipped_records(model_id) -> list[tuple[str, dict, dict | None, bool]]:
    """(label, record, held-out seed's record or None, whether the UNet has attention) per shipped record: the
    model's own (its folder's RECORD_FILE), then the attention-free pair model at the largest N."""
    out = []
    folder = model_data_folder(model_id)
    if folder is not None and (folder / RECORD_FILE).is_file():
        out.append((text.PAGE_UNET, json.loads((folder / RECORD_FILE).read_text()), load_heldout(folder), True))
    pairs = transition_mnist.pair_folders() if transition_mnist.DEFAULT_FOLDER.is_dir() else {}
    if pairs:
        n = max(pairs)
        path = pairs[n][0] / RECORD_FILE
        if path.is_file():
            out.append((text.attention_free_label(n), json.loads(path.read_text()), load_heldout(pairs[n][0]), False))
    return out


def records_markdown(model_id, noun: str) -> str | None:
    """The records' section as Markdown, None when none is shipped."""
    records = shipped_records(model_id)
    return text.records_text(records, noun) if records else None
