"""Tab "Copies or new points?" through gradio_client against a live app: /transition returns the shipped table,
a pair trained live is added to that session's plot only, bad values are refused by name; and the sentence under
the plot says what the numbers say."""

import os

import pytest

from helpers.app_server import serve_app
from pipelines.transition import ladders as transition
from ui.tabs.transition import transition_sentence

ROW_KEYS = {"num_points", "copy_fraction", "pair_distance_median", "spacing", "pair_distance_over_spacing", "exact"}


@pytest.fixture(scope="module")
def app_url(app_model_dir, tmp_path_factory):
    with serve_app(app_model_dir, log_path=tmp_path_factory.mktemp("transition-log") / "app.log") as url:
        yield url


def test_transition_returns_the_shipped_table(app_url):
    from gradio_client import Client

    picture, text, table = Client(app_url, verbose=False).predict("two_moons", api_name="/transition")
    assert os.path.isfile(picture)
    shipped = transition.load_table("two_moons")
    assert table["rows"] == shipped["rows"] and table["command"] == shipped["command"] and table["live_rows"] == []
    for row in table["rows"]:
        assert ROW_KEYS <= set(row) and set(row["copy_fraction"]) == {"a", "b"}
        assert set(row["exact"]) >= {"copy_fraction", "pair_distance_median", "pair_distance_over_spacing"}
    assert "never agree" in text and f"N = {shipped['rows'][-1]['num_points']:,}".replace(",", "{,}") in text


def test_a_pair_trained_live_is_added_to_this_sessions_plot_only(app_url):
    from gradio_client import Client

    mine, theirs = Client(app_url, verbose=False), Client(app_url, verbose=False)
    updates = list(mine.submit("two_moons", 4, 100, 8, 2, api_name="/transition_train"))
    final = updates[-1][2]
    assert final["done"] and all(not u[2]["done"] for u in updates[:-1])
    row = final["row"]
    assert ROW_KEYS <= set(row) and row["num_points"] == 4 and row["num_samples"] == 8 and row["seed"] == 2
    assert row["exact"]["copy_fraction"] == {"a": 1.0, "b": 1.0}
    assert mine.predict("two_moons", api_name="/transition")[2]["live_rows"] == [row]
    assert theirs.predict("two_moons", api_name="/transition")[2]["live_rows"] == []


@pytest.mark.parametrize(
    "endpoint, args, words",
    [
        ("/transition", ("moons",), "dataset must be one of"),
        ("/transition_train", ("two_moons", 3000, 100, 8, 0), "num_points must be an integer in [4, 2000]"),
        ("/transition_train", ("two_moons", 4, 50, 8, 0), "train_steps must be an integer in [100, 20000]"),
        ("/transition_train", ("two_moons", 4, 100, 4, 0), "num_samples must be an integer in [8, 1024]"),
        ("/transition_train", ("two_moons", 4, 100, 8, -1), "seed must be an integer in [0, 2147483647]"),
    ],
)
def test_a_bad_value_is_refused_naming_the_parameter(app_url, endpoint, args, words):
    from gradio_client import Client

    with pytest.raises(Exception) as error:
        Client(app_url, verbose=False).predict(*args, api_name=endpoint)
    assert words in str(error.value)


def _row(n: int, copies: float, ratio: float, exact_ratio: float = 5.0) -> dict:
    return transition.TransitionRow(
        "two_moons", n, 100, 0, 8, 0.01, copies, copies, 0.01, 0.01, ratio * 0.01, 1.0, 1.0, exact_ratio * 0.01
    ).as_dict()


def test_the_sentence_states_what_the_numbers_say():
    text = transition_sentence([_row(4, 1.0, 50.0), _row(8, 0.9, 30.0), _row(64, 0.5, 9.0), _row(2000, 0.1, 1.2)])
    assert "up to $N = 8$ at least 90%" in text
    # {,}: KaTeX sets a bare comma in math as punctuation with a space after it
    assert "From $N = 2{,}000$ at most 10%" in text and "1.2 against 5.0 at $N = 2{,}000$" in text
    assert "copy 100%" in text and "never agree" in text
    assert "not learned the same density" not in text  # agreeing models are not also said to disagree


def test_the_sentence_does_not_claim_a_transition_the_numbers_do_not_show():
    text = transition_sentence([_row(4, 1.0, 50.0), _row(2000, 0.6, 9.0)])
    assert "have not yet reached" in text and "generalise" not in text
    text = transition_sentence([_row(4, 1.0, 50.0), _row(2000, 0.1, 4.0, exact_ratio=5.0)])  # new, not agreeing
    assert "not learned the same density" in text and "generalise" not in text


def test_the_mnist_pair_is_drawn_once_per_n_with_the_tables_copy_fractions(ctx):
    from PIL import Image

    from pipelines.transition import mnist as transition_mnist
    from ui.tabs.transition import TransitionTab

    tab = TransitionTab(ctx)
    n = min(transition_mnist.pair_folders())
    picture = tab.pair_samples("mnist", n)
    assert isinstance(picture, Image.Image) and picture.width > 300
    assert tab.pair_samples("mnist", n) is picture  # seed 0: one picture per N, kept
    assert transition_mnist.load_pair_examples(n) is not None  # drawn from the record, not sampled on the click
    row = next(r for r in transition_mnist.load_table()["rows"] if r["num_points"] == n)
    assert row["num_samples"] > 0 and set(row["copy_fraction"]) == {"a", "b"}  # what its title quotes


def test_the_live_re_sample_refuses_bad_values_by_name(ctx):
    import gradio as gr

    from ui.tabs.transition import TransitionTab

    tab = TransitionTab(ctx)
    for args, words in ((("mnist", 16, -1), "seed must be an integer in"), (("mnist", 17, 0), "shipped ladder")):
        with pytest.raises(gr.Error, match=words):
            tab.pair_live(*args)


def test_the_2d_sentence_gives_the_datas_own_floor_and_the_sampling_error():
    floor = ((64, 0.14, 3872), (256, 0.12, 3488))
    text = transition_sentence([_row(4, 1.0, 50.0), _row(2000, 0.16, 1.2)], "points", floor)
    assert "14% at $N = 64$, 12% at $N = 256$" in text  # the data's unseen points, not (1/3)² alone
    assert "over 8 samples, a standard error of about 13 percentage points at 16%" in text  # √(0.16·0.84/8)
    assert "Do the two models agree?" in text  # the right panel read in words


def test_both_lines_rising_is_explained_not_as_a_change_of_unit():
    rows = [_row(4, 1.0, 100.0, 100.0), _row(16, 0.7, 37.0, 36.0), _row(64, 0.15, 47.0, 47.0), _row(256, 0.1, 5.0)]
    text = transition_sentence(rows)
    assert "Both lines of the right panel rise from $N = 16$ to $64$" in text
    assert "same at every $N$" in text and "one draw of the subsets per $N$" in text
    assert "Both lines" not in transition_sentence([_row(4, 1.0, 50.0), _row(2000, 0.1, 1.2)])


def test_the_training_plot_says_the_shipped_length_and_the_floor(ctx):
    from ui.tabs.transition import TransitionTab

    tab = TransitionTab(ctx)
    dataset = transition.shipped_datasets()[0]
    _, words = tab.train_plot(dataset)
    steps = transition.load_table(dataset)["recipe"]["train_steps"]
    assert f"each trained for {steps:,} steps" in words  # the promised length of the shipped pairs
    assert "The copy rule's floor here" in words and "% at $N = " in words  # the promised floor sentence
