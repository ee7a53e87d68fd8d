// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/**
 * @title PlatformToken
 * @notice "Cloudmarket Platform Token" (CMP): the token staked for discount tiers ({StakingTiers}). A plain
 * ERC-20 (18 decimals, EIP-2612 permit) with a fixed supply minted once to `holder`: no mint role, no hooks,
 * no fees, so a stake is exactly what was transferred. Not the credit token (stakes must not be spendable
 * credit) and not the dev faucet token (anyone could mint a top tier).
 */
contract PlatformToken is ERC20Permit {
    /// @notice Thrown when the holder is the zero address or the supply is zero.
    error InvalidSupply(address holder, uint256 supply);

    /**
     * @param holder Receives the whole supply (the treasury, which distributes it).
     * @param supply Total supply in base units (18 decimals).
     */
    constructor(address holder, uint256 supply)
        ERC20("Cloudmarket Platform Token", "CMP")
        ERC20Permit("Cloudmarket Platform Token")
    {
        if (holder == address(0) || supply == 0) revert InvalidSupply(holder, supply);
        _mint(holder, supply);
    }
}
