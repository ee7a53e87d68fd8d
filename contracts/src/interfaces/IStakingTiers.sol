// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDiscountOracle} from "./IDiscountOracle.sol";

/**
 * @title IStakingTiers
 * @notice Stakes of the platform token that buy a discount tier on leases ({IDiscountOracle}, read by the escrow
 * at `open`).
 *
 * Staking: {stake} adds ACTIVE stake (and optionally locks all of it until a time); {requestUnstake} moves
 * unlocked active stake to COOLING, withdrawable by {withdraw} once the cooldown fixed at the request is over.
 * Cooling stake counts for no tier. Only active stake is ever moved by a request, so the discount rests on
 * tokens that cannot leave the contract for at least `cooldown()` (and, for a locked tier, until the lock).
 *
 * Discount formula (account `a`, time `now`, the tier set in force at `now`):
 * - level(a) = the highest tier `i` with `active(a) >= minStake_i` and, when `minLock_i > 0`,
 *   `lockedUntil(a) >= now + minLock_i` (the stake is still locked for at least `minLock_i`);
 * - covered(a) = floor(active(a) * coverPerToken / 1e18): the spend rate, in credit units per second, that
 *   the stake covers (`coverPerToken` is set with the tiers: units per second covered by one whole token);
 * - discountBps(a) = discount_level if level > 0 AND spendRate(a) <= covered(a), else 0.
 * `spendRate(a)` is the account's TOTAL rate over all its open leases (as the escrow charges them, after any
 * discount; credit units per second),
 * reported by the engine ({reportSpendRates}, `SPEND_REPORTER_ROLE`) from the escrow's events. So the discount
 * is per ACCOUNT, not per lease: a hundred leases share one stake, and a small stake cannot discount a large
 * spend. The lease being opened is not yet in `spendRate`: the check is against what was open before it (the
 * engine's quote does the same check, so the quote and the chain agree).
 *
 * Tiers: set by `OPERATOR_ROLE` with {scheduleTiers}; a new set takes effect `tierDelay()` seconds later (until
 * then the old set applies; a later call replaces a set still pending). At most `MAX_TIERS` tiers, minimum
 * stakes strictly ascending, each discount <= `MAX_DISCOUNT_BPS`. The escrow fixes a lease's rate at open, so
 * no tier change ever reaches a lease already open.
 *
 * By signature (managed wallets: platform tokens, no ETH): {stakeBySig}, {requestUnstakeBySig} and
 * {withdrawBySig} do what the direct calls do for `req.account`, authorised by the account's EIP-712 signature
 * (domain "CloudmarketStaking" / "1", `eip712Domain()`); anyone (the engine's gas-paying signer) may submit
 * them. Type strings:
 * `StakeRequest(address account,uint256 amount,uint32 lockUntil,uint256 nonce,uint256 deadline)`,
 * `UnstakeRequest(address account,uint256 amount,uint256 nonce,uint256 deadline)`,
 * `WithdrawRequest(address account,uint256 nonce,uint256 deadline)`. One nonce sequence per account for all
 * three ({nonces}, each used once), `deadline` inclusive. Tokens are pulled from and paid to `req.account`,
 * never the sender; the rules (lock, cooldown, bounds) and events are those of the direct calls.
 */
interface IStakingTiers is IDiscountOracle {
    /// @notice One tier: the active stake it needs, the remaining lock it needs (0 = none) and its discount.
    struct Tier {
        uint96 minStake;
        uint32 minLock;
        uint16 discountBps;
    }

    /// @notice One staker's packed slot: active stake, cooling stake, end of the cooldown, end of the lock.
    struct Stake {
        uint96 active;
        uint96 cooling;
        uint32 coolingEnd;
        uint32 lockedUntil;
    }

    /**
     * @notice A signed {stake}: `amount` pulled from `account`, `lockUntil` as in {stake}.
     * @param account The staker (the signer).
     * @param amount Platform-token base units to stake (0 = lock only).
     * @param lockUntil New lock end (0 = keep the lock).
     * @param nonce The account's next nonce ({nonces}).
     * @param deadline Last timestamp at which the request is valid.
     */
    struct StakeRequest {
        address account;
        uint256 amount;
        uint32 lockUntil;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice A signed {requestUnstake} of `amount` for `account` (nonce and deadline as in {StakeRequest}).
    struct UnstakeRequest {
        address account;
        uint256 amount;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice A signed {withdraw} for `account` (nonce and deadline as in {StakeRequest}).
    struct WithdrawRequest {
        address account;
        uint256 nonce;
        uint256 deadline;
    }

    /**
     * @notice An EIP-2612 permit of the platform token, owner = the request's account, spender = this contract.
     * `value` zero means "no permit": the existing allowance is used.
     */
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    // ---- errors -----------------------------------------------------------------------------------------

    /// @notice Thrown when a required address is zero.
    error ZeroAddress();
    /// @notice Thrown when an amount is zero.
    error ZeroAmount();
    /// @notice Thrown when the active stake would not fit 96 bits.
    error AmountTooLarge(uint256 amount, uint256 max);
    /// @notice Thrown when a lock would end before the current one, in the past, or beyond `MAX_LOCK` from now.
    error InvalidLock(uint256 until, uint256 current, uint256 max);
    /// @notice Thrown when unstaking while the stake is locked until `lockedUntil`.
    error StakeLocked(uint256 lockedUntil);
    /// @notice Thrown when unstaking more than the active stake.
    error InsufficientStake(uint256 active, uint256 requested);
    /// @notice Thrown when withdrawing with nothing cooling.
    error NothingToWithdraw();
    /// @notice Thrown when withdrawing before the cooldown ends at `coolingEnd`.
    error CooldownNotOver(uint256 coolingEnd);
    /// @notice Thrown when a tier set has more than `max` tiers.
    error TooManyTiers(uint256 count, uint256 max);
    /// @notice Thrown when tier `index` does not need strictly more stake than the tier before it (or needs 0).
    error TiersNotAscending(uint256 index);
    /// @notice Thrown when a tier's discount exceeds `max` basis points.
    error DiscountTooHigh(uint256 discountBps, uint256 max);
    /// @notice Thrown when a tier's lock exceeds `max` seconds.
    error LockTooLong(uint256 minLock, uint256 max);
    /// @notice Thrown when a non-empty tier set has a zero `coverPerToken` (no stake would cover any spend).
    error ZeroCoverPerToken();
    /// @notice Thrown when the account and rate arrays of a report differ in length.
    error LengthMismatch(uint256 accounts, uint256 rates);
    /// @notice Thrown when a signed request is submitted after its `deadline`.
    error ExpiredSignature(uint256 deadline);
    /// @notice Thrown when a signed request's signature is not `account`'s (ECDSA or EIP-1271).
    error InvalidSigner(address account);
    /// @notice Thrown when a permit failed and the allowance left does not cover the amount to pull.
    error PermitFailed(address account, uint256 allowance, uint256 needed);

    // ---- events -----------------------------------------------------------------------------------------

    /// @notice Emitted when `account` staked `amount`; `active` is its active stake after, `lockedUntil` its lock.
    event Staked(address indexed account, uint256 amount, uint256 active, uint256 lockedUntil);
    /// @notice Emitted when `account` moved `amount` to cooling, withdrawable from `coolingEnd`.
    event UnstakeRequested(address indexed account, uint256 amount, uint256 active, uint256 coolingEnd);
    /// @notice Emitted when `account` withdrew `amount` of cooled stake.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice Emitted when the operator scheduled `tiers` (with `coverPerToken`), in force from `activatesAt`.
    event TiersScheduled(Tier[] newTiers, uint256 coverPerToken, uint256 activatesAt);
    /// @notice Emitted when the engine reported `account`'s total open lease rate.
    event SpendRateReported(address indexed account, uint256 ratePerSecond);

    // ---- staking ----------------------------------------------------------------------------------------

    /**
     * @notice Stakes `amount` (pulled from the caller's allowance) and, if `lockUntil` is non-zero, locks all of
     * the caller's active stake until `lockUntil` (only extends; at most `MAX_LOCK` from now). `amount` may be
     * zero to lock only (then `lockUntil` must be non-zero). Reverts {ZeroAmount}, {AmountTooLarge},
     * {InvalidLock}. Emits {Staked}.
     */
    function stake(uint256 amount, uint32 lockUntil) external;

    /**
     * @notice Moves `amount` of the caller's active stake to cooling; the cooldown restarts for all cooling
     * stake (its end, `now + cooldown()`, is fixed now). Reverts {ZeroAmount}, {StakeLocked},
     * {InsufficientStake}. Emits {UnstakeRequested}.
     */
    function requestUnstake(uint256 amount) external;

    /// @notice Sends the caller's cooling stake back once its cooldown is over. Reverts {NothingToWithdraw},
    /// {CooldownNotOver}. Emits {Withdrawn}.
    function withdraw() external;

    /**
     * @notice {stake} for `req.account`, authorised by its EIP-712 signature `sig`; anyone may submit it.
     * `permit` (unless its value is zero) is applied first; a permit that fails (e.g. already submitted by a
     * front-runner) is ignored when the allowance covers `req.amount`. Reverts {ExpiredSignature},
     * `InvalidAccountNonce(account, expected)`, {InvalidSigner}, {PermitFailed}, and as {stake}. Emits {Staked}.
     */
    function stakeBySig(StakeRequest calldata req, Permit calldata permit, bytes calldata sig) external;

    /// @notice {requestUnstake} for `req.account`, authorised by its signature. Reverts {ExpiredSignature},
    /// `InvalidAccountNonce`, {InvalidSigner}, and as {requestUnstake}. Emits {UnstakeRequested}.
    function requestUnstakeBySig(UnstakeRequest calldata req, bytes calldata sig) external;

    /// @notice {withdraw} for `req.account` (the tokens go to `req.account`), authorised by its signature.
    /// Reverts {ExpiredSignature}, `InvalidAccountNonce`, {InvalidSigner}, and as {withdraw}. Emits {Withdrawn}.
    function withdrawBySig(WithdrawRequest calldata req, bytes calldata sig) external;

    // ---- operator and engine ----------------------------------------------------------------------------

    /**
     * @notice Schedules a new tier set (ascending `minStake`) and coverage factor, in force `tierDelay()` from
     * now; replaces a set still pending. Only `OPERATOR_ROLE`. Reverts {TooManyTiers}, {TiersNotAscending},
     * {DiscountTooHigh}, {LockTooLong}, {ZeroCoverPerToken}. Emits {TiersScheduled}.
     * @param coverPerToken Credit units per second that one whole staked token (1e18 units) covers.
     */
    function scheduleTiers(Tier[] calldata tiers, uint96 coverPerToken) external;

    /// @notice Records each account's total open lease rate (credit units per second). Only
    /// `SPEND_REPORTER_ROLE`. Reverts {LengthMismatch}. Emits {SpendRateReported} per account.
    function reportSpendRates(address[] calldata accounts, uint256[] calldata rates) external;

    // ---- views ------------------------------------------------------------------------------------------

    /// @notice `account`'s next signed-request nonce (one sequence for all three request kinds).
    function nonces(address account) external view returns (uint256);

    /// @notice The EIP-712 digest `account` signs for `req` (for cross-checking off-chain signers).
    function digestStakeRequest(StakeRequest calldata req) external view returns (bytes32);

    /// @notice The EIP-712 digest of an {UnstakeRequest}.
    function digestUnstakeRequest(UnstakeRequest calldata req) external view returns (bytes32);

    /// @notice The EIP-712 digest of a {WithdrawRequest}.
    function digestWithdrawRequest(WithdrawRequest calldata req) external view returns (bytes32);

    /// @notice The platform token staked here.
    function token() external view returns (address);

    /// @notice Seconds between {requestUnstake} and {withdraw}.
    function cooldown() external view returns (uint256);

    /// @notice Seconds between {scheduleTiers} and the new set taking effect.
    function tierDelay() external view returns (uint256);

    /// @notice `account`'s packed stake.
    function stakeOf(address account) external view returns (Stake memory);

    /// @notice `account`'s last reported total open lease rate.
    function spendRateOf(address account) external view returns (uint256);

    /// @notice The tier set in force now and its coverage factor.
    function tiers() external view returns (Tier[] memory tiers_, uint256 coverPerToken);

    /// @notice The scheduled set not yet in force (empty and 0 when none).
    function pendingTiers() external view returns (Tier[] memory tiers_, uint256 coverPerToken, uint256 activatesAt);

    /**
     * @notice `account`'s level (1-based index into {tiers}, 0 = none) by stake and lock, the spend rate its
     * active stake covers, and the discount it gets now (see the formula above).
     */
    function tierOf(address account) external view returns (uint256 level, uint256 coveredRate, uint256 discount);
}
