"""The TC260-003 / GB/T 45654-2025 model-safety evaluation harness (docs/tc260.md).

Banks (:mod:`.banks`), threshold profiles (:mod:`.profiles`), an OpenAI-compatible client
(:mod:`.client`), pluggable answer classifiers (:mod:`.classify`), the resumable runner
(:mod:`.runner`) and its result with report sections (:mod:`.result`).
"""

from __future__ import annotations

from synthlabel.assess.tc260.banks import (
    DEMO_REF,
    BankError,
    BankSet,
    Question,
    Shortfall,
    coverage,
    load_banks,
    read_banks,
)
from synthlabel.assess.tc260.client import ChatClient, EndpointConfig, EndpointError
from synthlabel.assess.tc260.profiles import Profile, load_profile
from synthlabel.assess.tc260.result import Tc260Result
from synthlabel.assess.tc260.runner import RunConfig, run, run_async

__all__ = [
    "DEMO_REF",
    "BankError",
    "BankSet",
    "ChatClient",
    "EndpointConfig",
    "EndpointError",
    "Profile",
    "Question",
    "RunConfig",
    "Shortfall",
    "Tc260Result",
    "coverage",
    "load_banks",
    "load_profile",
    "read_banks",
    "run",
    "run_async",
]
