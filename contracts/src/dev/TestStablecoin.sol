// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/**
 * @title TestStablecoin
 * @notice Dev chains only: "Test USD" (tUSD), 6 decimals, the stable side of the seeded Uniswap V2 pools
 * (`chain/devswap.py`). Anyone may mint: it is a faucet token and is never deployed on a public network,
 * where the swap tokens come from configuration. EIP-2612 permit (as USDC has), so a managed wallet can
 * swap through `SwapTopUp` without ETH for an approve.
 */
contract TestStablecoin is ERC20, ERC20Permit {
    constructor() ERC20("Test USD", "tUSD") ERC20Permit("Test USD") {}

    /// @notice Mints `amount` to `to` (anyone, any amount: a dev-chain faucet).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
