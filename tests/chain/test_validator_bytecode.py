"""The committed universal validator bytecode is what solc-js makes of the committed source."""

from __future__ import annotations

import pytest

from models.contract_wallets import validator_creation_code

from .conftest import MODELS_CONTRACTS, require_chain_tools
from .node import compile_contracts


@pytest.mark.slow
def test_the_committed_validator_bytecode_is_recompiled_from_its_source() -> None:
    require_chain_tools()
    compiled = compile_contracts(MODELS_CONTRACTS / "UniversalSigValidator.sol")
    assert compiled["ValidateSigOffchain"] == validator_creation_code(), (
        "models/contracts/ValidateSigOffchain.hex is stale: regenerate it with "
        "`node tests/chain/compile.mjs models/contracts/UniversalSigValidator.sol` "
        "(docs/contract-wallets.md)"
    )
