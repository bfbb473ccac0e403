"""THE PAGE: everything a person sees of the demo. No diffusion math and no UNet calls: the tabs call the library
(`pipelines`) and lay out what it returns. One module per tab (`tab_*.py`); `TABS` is the tab list app.py builds."""

from ui.tab_exact import ExactSamplerTab
from ui.tab_posterior import PosteriorTab
from ui.tab_sample import SampleTab
from ui.tab_toy import ToyTab
from ui.tab_transition import TransitionTab
from ui.tab_variance import VarianceTab

TABS: list[type] = [SampleTab, PosteriorTab, ExactSamplerTab, VarianceTab, ToyTab, TransitionTab]

__all__ = ["TABS", "SampleTab", "PosteriorTab", "ExactSamplerTab", "VarianceTab", "ToyTab", "TransitionTab"]
