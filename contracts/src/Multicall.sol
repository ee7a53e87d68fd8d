// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Multicall
 * @notice Read-only batching of view calls for clients without JSON-RPC batches. Every inner call is a
 * `staticcall`; a failing inner call is reported in its {Result} and never reverts the batch.
 */
contract Multicall {
    /// @notice One call to make: the contract to call and the ABI-encoded call data.
    struct Call {
        address target;
        bytes callData;
    }

    /// @notice The outcome of one {Call}: whether it succeeded and the raw return (or revert) data.
    struct Result {
        bool success;
        bytes returnData;
    }

    /**
     * @notice Runs each call with `staticcall` in order and returns every outcome.
     * @dev A call to an address without code succeeds with empty return data, as the EVM does.
     * @param calls The calls to make.
     * @return results One {Result} per call, in the same order.
     */
    function aggregate(Call[] calldata calls) external view returns (Result[] memory results) {
        uint256 length = calls.length;
        results = new Result[](length);
        for (uint256 i = 0; i < length; ++i) {
            // Calling arbitrary targets in a loop with a low-level staticcall is this contract's purpose: a
            // failure is recorded in its Result, and staticcall cannot change state or re-enter a write.
            // slither-disable-next-line calls-loop,low-level-calls
            (bool success, bytes memory returnData) = calls[i].target.staticcall(calls[i].callData);
            results[i] = Result(success, returnData);
        }
    }

    /**
     * @notice Returns the native balance of each account.
     * @param accounts The accounts to read.
     * @return balances The balances in wei, in the same order.
     */
    function getEthBalances(address[] calldata accounts) external view returns (uint256[] memory balances) {
        uint256 length = accounts.length;
        balances = new uint256[](length);
        for (uint256 i = 0; i < length; ++i) {
            balances[i] = accounts[i].balance;
        }
    }

    /**
     * @notice Returns the current block number and timestamp, so a batch can be pinned to the block it read.
     * @return blockNumber The current block number.
     * @return timestamp The current block timestamp.
     */
    function getBlock() external view returns (uint256 blockNumber, uint256 timestamp) {
        return (block.number, block.timestamp);
    }
}
