// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/**
 * @title ICreditToken
 * @notice Cloudmarket Credit: an ERC-20 with 6 decimals where one credit (10**6 units) is one US dollar.
 * Credits are minted by the fiat on-ramp against an off-chain payment reference that can be used once.
 */
interface ICreditToken is IERC20 {
    /**
     * @notice A mint was attempted with a reference that was already used.
     * @param ref The payment reference (e.g. the hash of a Stripe payment id).
     */
    error RefAlreadyUsed(bytes32 ref);

    /// @notice A mint was attempted with the zero reference.
    error ZeroRef();

    /// @notice A mint was attempted for zero units.
    error ZeroAmount();

    /**
     * @notice Emitted when credits are minted against a payment reference.
     * @param to The account credited.
     * @param amount The amount minted, in units of 10**-6 credit.
     * @param ref The payment reference, now marked as used.
     */
    event CreditMinted(address indexed to, uint256 amount, bytes32 indexed ref);

    /**
     * @notice Mints `amount` units to `to` against the payment reference `ref`.
     * @dev Callable only by accounts holding `MINTER_ROLE`. Each `ref` can be used exactly once.
     * Reverts with {ZeroRef} if `ref` is zero, {ZeroAmount} if `amount` is zero, {RefAlreadyUsed} if the
     * reference was used before, and with the ERC-20 error {ERC20InvalidReceiver} if `to` is zero.
     * Emits {CreditMinted} and {IERC20-Transfer}.
     * @param to The account to credit.
     * @param amount The amount in units of 10**-6 credit.
     * @param ref The payment reference.
     */
    function mint(address to, uint256 amount, bytes32 ref) external;

    /**
     * @notice Destroys `amount` units of the caller's balance.
     * @param amount The amount in units of 10**-6 credit.
     */
    function burn(uint256 amount) external;

    /**
     * @notice Tells whether `ref` has been used by a mint.
     * @param ref The payment reference.
     * @return True once a mint with `ref` succeeded.
     */
    function refUsed(bytes32 ref) external view returns (bool);

    /// @notice The role allowed to call {mint}.
    /// @return The role identifier, `keccak256("MINTER_ROLE")`.
    // Role constants are upper-case by OpenZeppelin convention (DEFAULT_ADMIN_ROLE).
    // slither-disable-next-line naming-convention
    function MINTER_ROLE() external view returns (bytes32);
}
