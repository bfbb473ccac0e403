"""THE PAGE: everything a person sees of the demo. No diffusion math and no UNet calls: the tabs call the library
(`pipelines`) and lay out what it returns. One module per tab (ui/tabs/), its words in ui/text/; `TABS` is the tab
list app.py builds."""

from ui.tabs.exact import ExactSamplerTab
from ui.tabs.mechanism import MechanismTab
from ui.tabs.posterior import PosteriorTab
from ui.tabs.sample import SampleTab
from ui.tabs.toy import ToyTab
from ui.tabs.transition import TransitionTab
from ui.tabs.variance import VarianceTab

TABS: list[type] = [SampleTab, PosteriorTab, ExactSamplerTab, VarianceTab, ToyTab, TransitionTab, MechanismTab]

__all__ = [
    "TABS",
    "SampleTab",
    "PosteriorTab",
    "ExactSamplerTab",
    "VarianceTab",
    "ToyTab",
    "TransitionTab",
    "MechanismTab",
]
