// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IEscrowHooks
 * @notice What the provider registry asks of and tells the escrow.
 */
interface IEscrowHooks {
    /// @notice Called by the registry when a node or provider stops being active (now): leases settled before
    /// now may have stopped and are checked against {IProviderRegistry-leaseAccrualEnd} at their next settlement.
    function nodesStopped() external;
}
