// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IDiscountOracle
 * @notice The staking discount hook read by {IDeploymentEscrow-open}. The staking-tiers contract (a later
 * issue) implements it.
 */
interface IDiscountOracle {
    /**
     * @notice The rate discount granted to `payer`, in basis points of the quoted rate.
     * @dev The escrow caps the value at its `MAX_DISCOUNT_BPS`; it must not revert for unknown payers.
     * @param payer The account opening a lease.
     * @return The discount in basis points (0 = none).
     */
    function discountBps(address payer) external view returns (uint256);
}
