// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IEscrowHooks} from "./IEscrowHooks.sol";

/**
 * @title IDeploymentEscrow
 * @notice Per-second payment for deployments: one contract holds every lease's credit and settles lazily.
 *
 * A lease pays `ratePerSecond` from its balance to the node it runs on. Settlement is lazy: at any time the
 * amount due is `min(balance, rate * (now - settledAt))`. Of what is due, a platform fee of `feeBps`
 * (of the fee in force when the lease opened, rounded down) goes to the treasury's owed balance and the rest to the node's
 * owed balance. Earnings are owed to the NODE and paid to the node's payee as read from the registry at
 * withdrawal time (so a provider switching payee should withdraw first). When a settlement is made by
 * {settle} or {settleMany}, the caller earns a keeper tip paid out of the platform fee:
 * `min(fee * keeperShareBps / 10_000, maxTip)` (rounded down); the payer and the node are charged exactly
 * the same whoever settles. A lease closes when settlement empties its balance; {close} by the payer or the
 * node's provider settles and refunds the rest to the payer. A closed lease never accrues again.
 *
 * Lease ids bind the payer: `leaseId = uint256(uint160(payer)) << 64 | sequence`, where `sequence` counts
 * every lease ever opened (from 1). The payer of a lease is therefore `address(uint160(leaseId >> 64))`
 * and needs no storage.
 *
 * Quotes (issue 10): every open carries a {QuoteSignature}: the engine's quoting key (an account with
 * `QUOTE_SIGNER_ROLE`, not the minter) signs EIP-712
 *   Quote(address payer,uint64 nodeId,uint256 ratePerSecond,bytes32 specHash,uint256 expiry)
 * in this escrow's domain; an edited payer, node, rate or spec recovers another signer ({InvalidQuote}), a
 * quote past `expiry` (inclusive) reverts {QuoteExpired}. The quoted rate is the LIST rate, before the
 * payer's staking discount, which the escrow applies on chain. A quote may be used more than once before it
 * expires, by its payer only, at its price: that opens another lease at the quoted terms (no nonce, which
 * would cost a fresh storage word per open).
 *
 * Fee: the platform fee in force at open is stored in the lease; {setFeeParams} applies to leases opened
 * after it (never to time already accrued, nor to running leases). The fee is rounded DOWN, so a settlement
 * with anything due always pays the node (`due - fee >= 1` since feeBps <= 20 %).
 *
 * Stops: from the moment a lease's node stops being active (removed, provider suspended or exiting; see
 * {IProviderRegistry-leaseAccrualEnd}) the lease accrues nothing more; it stays open so the payer (or the
 * provider) can {close} it and the rest is refunded. {topUp} of a stopped lease reverts {NodeNotActive}.
 *
 * Pause: `PAUSER_ROLE` may {setPaused}: new opens, top-ups and auto top-ups revert {EnforcedPause}; settlement,
 * close, refunds and withdrawals always work.
 *
 * Auto top-up: a payer sets `maxPerDay` on-chain with {setAutoTopUp}; `TOPUP_ROLE` may then call
 * {autoTopUp} pulling from the payer's ERC-20 allowance. The limit is a bucket of capacity `maxPerDay / 2`
 * refilling at `maxPerDay / 2` per 86,400 s (continuously), so that ANY 24-hour window holds at most
 * `maxPerDay` (half at once plus half refilled); a fresh or changed limit starts full.
 *
 * Meta-transactions: {openBySig}, {topUpBySig} and {closeBySig} let anyone submit a request signed by the
 * payer (EIP-712, domain name "CloudmarketEscrow", version "1", this chain id and escrow address; an EOA by
 * ECDSA, a contract wallet by EIP-1271), so a payer without ETH is served by a relayer that pays the gas.
 * The payer is the only authority: its credit is pulled, refunds go to it, never to the caller. Each
 * request carries the payer's next nonce ({nonces}; one sequence per payer for all three kinds, each used
 * once) and a deadline (inclusive). Type strings:
 *   OpenRequest(address payer,uint64 nodeId,uint256 ratePerSecond,uint256 deposit,bytes32 specHash,uint256 nonce,uint256 deadline)
 *   TopUpRequest(address payer,uint256 leaseId,uint256 amount,uint256 nonce,uint256 deadline)
 *   CloseRequest(address payer,uint256 leaseId,uint256 nonce,uint256 deadline)
 */
interface IDeploymentEscrow is IEscrowHooks {
    /**
     * @notice A lease as seen from outside.
     * @param payer Who funds the lease and receives refunds.
     * @param nodeId The node it pays.
     * @param balance Credit left, as of `settledAt` (10**-6 credit units).
     * @param ratePerSecond Units paid per second (after any discount); zero once closed.
     * @param settledAt Time up to which the lease is settled.
     * @param open Whether the lease is open.
     */
    struct LeaseView {
        address payer;
        uint64 nodeId;
        uint256 balance;
        uint256 ratePerSecond;
        uint256 settledAt;
        bool open;
    }

    /**
     * @notice One lease's settlement in a {LeasesSettled} batch (same meaning as {LeaseSettled}).
     * @param leaseId The lease id.
     * @param due Amount taken from the lease (`min(balance, rate * elapsed)`); the node got `due - fee`.
     * @param balance The lease balance afterwards (zero: the lease closed, see {LeaseClosed}).
     */
    struct Settlement {
        uint256 leaseId;
        uint256 due;
        uint256 balance;
    }

    /**
     * @notice A lease opening signed by the payer (EIP-712 `OpenRequest`).
     * @param payer Who funds the lease (signer).
     * @param nodeId The node.
     * @param ratePerSecond Quoted rate (the payer's discount applies as in {open}).
     * @param deposit Initial balance.
     * @param specHash Hash of the deployment spec.
     * @param nonce The payer's next nonce ({nonces}).
     * @param deadline Last timestamp at which the request is valid.
     */
    struct OpenRequest {
        address payer;
        uint64 nodeId;
        uint256 ratePerSecond;
        uint256 deposit;
        bytes32 specHash;
        uint256 nonce;
        uint256 deadline;
    }

    /**
     * @notice A top-up signed by the payer (EIP-712 `TopUpRequest`).
     * @param payer Whose credit is added (signer).
     * @param leaseId The lease.
     * @param amount The amount to add.
     * @param nonce The payer's next nonce.
     * @param deadline Last timestamp at which the request is valid.
     */
    struct TopUpRequest {
        address payer;
        uint256 leaseId;
        uint256 amount;
        uint256 nonce;
        uint256 deadline;
    }

    /**
     * @notice A close signed by the lease's payer (EIP-712 `CloseRequest`).
     * @param payer The lease's payer (signer; receives the refund).
     * @param leaseId The lease.
     * @param nonce The payer's next nonce.
     * @param deadline Last timestamp at which the request is valid.
     */
    struct CloseRequest {
        address payer;
        uint256 leaseId;
        uint256 nonce;
        uint256 deadline;
    }

    /**
     * @notice An EIP-2612 permit of the credit token, owner = the request's payer, spender = this escrow.
     * `value` zero means "no permit": the existing allowance is used.
     * @param value Allowance to set.
     * @param deadline Permit deadline.
     * @param v Signature v.
     * @param r Signature r.
     * @param s Signature s.
     */
    /**
     * @notice The engine's signature over a quote (EIP-712 `Quote`, see above); the quoted payer, node, rate
     * and spec are the open's own arguments.
     * @param expiry Last timestamp at which the quote is valid.
     * @param r Signature r.
     * @param vs Signature s with v folded into its top bit (EIP-2098 compact form).
     */
    struct QuoteSignature {
        uint256 expiry;
        bytes32 r;
        bytes32 vs;
    }

    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    // ---- errors ---------------------------------------------------------------------------------------

    /// @notice Thrown when an amount of zero is given where a positive one is needed.
    error ZeroAmount();

    /**
     * @notice Thrown when an open carries a quote past its expiry.
     * @param expiry The quote's expiry.
     */
    error QuoteExpired(uint256 expiry);

    /**
     * @notice Thrown when an open's quote was not signed by a `QUOTE_SIGNER_ROLE` account for these terms.
     * @param signer The recovered signer (zero if the signature is malformed).
     */
    error InvalidQuote(address signer);

    /// @notice Thrown when the discount oracle call failed because the transaction ran out of gas for it.
    error DiscountOracleStarved();

    /// @notice Thrown when opening or topping up while paused.
    error EnforcedPause();

    /// @notice Thrown when someone other than the registry calls {nodesStopped}.
    error NotRegistry();

    /// @notice Thrown when a lease is opened with a zero rate.
    error ZeroRate();

    /// @notice Thrown when the zero address is given where an account is needed.
    error ZeroAddress();

    /**
     * @notice Thrown when an amount or a resulting balance does not fit its storage field.
     * @param amount The amount (or resulting balance).
     * @param max The largest value accepted.
     */
    error AmountTooLarge(uint256 amount, uint256 max);

    /**
     * @notice Thrown when a rate (after discount) does not fit 64 bits.
     * @param rate The rate.
     * @param max The largest rate accepted.
     */
    error RateTooLarge(uint256 rate, uint256 max);

    /**
     * @notice Thrown when a lease is opened on a node that is not active in the registry.
     * @param nodeId The node id.
     */
    error NodeNotActive(uint64 nodeId);

    /**
     * @notice Thrown when a lease is unknown or already closed.
     * @param leaseId The lease id.
     */
    error LeaseNotOpen(uint256 leaseId);

    /**
     * @notice Thrown when topping up a lease whose balance has already run out (settle it instead; it
     * closes).
     * @param leaseId The lease id.
     */
    error LeaseDepleted(uint256 leaseId);

    /**
     * @notice Thrown when someone other than the payer or the node's provider closes a lease.
     * @param leaseId The lease id.
     * @param caller The caller.
     */
    error NotLeaseParty(uint256 leaseId, address caller);

    /**
     * @notice Thrown when someone other than the node's payee withdraws its earnings.
     * @param nodeId The node id.
     * @param caller The caller.
     * @param payee The node's payee.
     */
    error NotPayee(uint64 nodeId, address caller, address payee);

    /// @notice Thrown when a withdrawal finds nothing owed.
    error NothingToWithdraw();

    /**
     * @notice Thrown when an auto top-up exceeds what is left of the payer's daily allowance.
     * @param payer The payer.
     * @param amount The amount requested.
     * @param remaining What is left today.
     */
    error AutoTopUpExceeded(address payer, uint256 amount, uint256 remaining);

    /**
     * @notice Thrown when a basis-point parameter is out of range.
     * @param bps The value given.
     * @param max The largest value accepted.
     */
    error InvalidBps(uint256 bps, uint256 max);

    /**
     * @notice Thrown when a signed request is submitted after its deadline.
     * @param deadline The request's deadline.
     */
    error ExpiredSignature(uint256 deadline);

    /**
     * @notice Thrown when a signed request's signature is not the payer's (ECDSA or EIP-1271).
     * @param payer The payer named in the request.
     */
    error InvalidSigner(address payer);

    /**
     * @notice Thrown when a permit failed and the allowance left does not cover the amount to pull.
     * @param payer The permit's owner.
     * @param allowance The escrow's allowance from `payer`.
     * @param needed The amount to pull.
     */
    error PermitFailed(address payer, uint256 allowance, uint256 needed);

    // ---- events ---------------------------------------------------------------------------------------

    /**
     * @notice Emitted when a lease was opened and its deposit pulled from the payer.
     * @param leaseId The lease id.
     * @param payer The payer.
     * @param nodeId The node.
     * @param ratePerSecond The stored rate, after the discount.
     * @param deposit The initial balance.
     * @param specHash Hash of the deployment spec (off-chain).
     * @param discountBps The discount applied to the quoted rate.
     */
    event LeaseOpened(
        uint256 indexed leaseId,
        address indexed payer,
        uint64 indexed nodeId,
        uint256 ratePerSecond,
        uint256 deposit,
        bytes32 specHash,
        uint256 discountBps
    );

    /**
     * @notice Emitted when a lease was topped up.
     * @param leaseId The lease id.
     * @param from Whose credit was pulled.
     * @param amount The amount added.
     * @param balance The lease balance afterwards (as of its `settledAt`).
     */
    event LeaseToppedUp(uint256 indexed leaseId, address indexed from, uint256 amount, uint256 balance);

    /**
     * @notice Emitted when a lease was settled.
     * @param leaseId The lease id.
     * @dev The fee (`floor(due * feeBps / 10_000)`, feeBps of the lease (fixed at open), of which the caller's tip is
     * `min(fee * keeperShareBps / 10_000, maxTip)` for {settle}/{settleMany}, else 0) follows from the
     * parameters of the last {FeeParamsSet}; it is left out of the event to keep settlement cheap.
     * @param due Amount taken from the lease (`min(balance, rate * elapsed)`); the node got `due - fee`.
     * @param balance The lease balance afterwards.
     */
    event LeaseSettled(uint256 indexed leaseId, uint256 due, uint256 balance);

    /**
     * @notice Emitted by {settle} and {close} when the settlement ran up to the moment the lease's node
     * stopped being active (the lease accrues nothing more; the payer may close it for a refund of the rest).
     * {settleMany} stops such leases the same way without this event; the registry's {NodeRemoved} /
     * {ProviderDeactivated} are the authoritative signal.
     * @param leaseId The lease id.
     * @param stoppedAt The time accrual stopped.
     */
    event LeaseStopped(uint256 indexed leaseId, uint256 stoppedAt);

    /**
     * @notice Emitted when the pauser paused or unpaused opens and top-ups.
     * @param paused The new state.
     * @param by The pauser.
     */
    event PauseSet(bool paused, address indexed by);

    /**
     * @notice Emitted once per {settleMany} call that settled anything, instead of one {LeaseSettled} per
     * lease (one log with three words per lease is about 850 gas cheaper per lease than a log each).
     * @dev An indexer handles each entry exactly as a {LeaseSettled} with the same fields, in array order.
     * Leases skipped by the call (closed, unknown, or already settled this second) are absent. Every entry
     * was settled by `keeper`, who earned `min(Σ fee * keeperShareBps / 10_000, maxTip)` for the call
     * (`fee = floor(due * feeBps / 10_000)`, feeBps of the lease; tips capped per call). Entries with
     * `balance == 0` closed: their {LeaseClosed} events (`closedBy = keeper`, `refund = 0`) follow this
     * event, in array order. Topic-filtering by lease id is not possible for batch settlements; filter on
     * this event and read the entries.
     * @param keeper The caller, credited with the tips.
     * @param settlements The settlements, in the order of the call's `leaseIds`.
     */
    event LeasesSettled(address indexed keeper, Settlement[] settlements);

    /**
     * @notice Emitted when a lease closed, by {close} or because settlement emptied it.
     * @param leaseId The lease id.
     * @param closedBy The caller of the transaction that closed it ({closeBySig}: the payer).
     * @param refund Amount returned to the payer.
     */
    event LeaseClosed(uint256 indexed leaseId, address indexed closedBy, uint256 refund);

    /**
     * @notice Emitted when a node's payee withdrew the node's earnings.
     * @param nodeId The node.
     * @param payee The payee.
     * @param amount The amount paid.
     */
    event EarningsWithdrawn(uint64 indexed nodeId, address indexed payee, uint256 amount);

    /**
     * @notice Emitted when a keeper withdrew its tips.
     * @param keeper The keeper.
     * @param amount The amount paid.
     */
    event TipsWithdrawn(address indexed keeper, uint256 amount);

    /**
     * @notice Emitted when accrued platform fees were sent to the treasury.
     * @param treasury The treasury.
     * @param amount The amount paid.
     */
    event FeesWithdrawn(address indexed treasury, uint256 amount);

    /**
     * @notice Emitted when a payer set its auto top-up allowance.
     * @param payer The payer.
     * @param maxPerDay The most {autoTopUp} may pull in any 24-hour window (0 disables).
     */
    event AutoTopUpSet(address indexed payer, uint256 maxPerDay);

    /**
     * @notice Emitted when the engine topped a lease up from the payer's allowance (after {LeaseToppedUp}).
     * @param leaseId The lease id.
     * @param payer The payer.
     * @param amount The amount pulled.
     * @param available What is left in the payer's bucket afterwards.
     */
    event AutoToppedUp(uint256 indexed leaseId, address indexed payer, uint256 amount, uint256 available);

    /**
     * @notice Emitted when the admin changed the fee parameters.
     * @param feeBps Platform fee in basis points of what is due.
     * @param keeperShareBps Share of the fee paid as keeper tip, in basis points of the fee.
     * @param maxTip Largest tip per settlement call, in 10**-6 credit units.
     */
    event FeeParamsSet(uint256 feeBps, uint256 keeperShareBps, uint256 maxTip);

    /**
     * @notice Emitted when the admin set the discount oracle (zero = no discount).
     * @param oracle The oracle.
     */
    event DiscountOracleSet(address indexed oracle);

    /**
     * @notice Emitted when the admin set the treasury.
     * @param treasury The treasury.
     */
    event TreasurySet(address indexed treasury);

    // ---- leases ---------------------------------------------------------------------------------------

    /**
     * @notice Opens a lease on `nodeId` paying `ratePerSecond` (less the caller's staking discount) and
     * pulls `deposit` from the caller (needs allowance). `quote` is the engine's signature over (caller,
     * nodeId, ratePerSecond, specHash, quote.expiry).
     * @dev Reverts with {EnforcedPause}, {QuoteExpired}, {InvalidQuote}, {NodeNotActive}, {ZeroRate},
     * {ZeroAmount}, {AmountTooLarge} (deposit >= 2**96), {RateTooLarge} (rate >= 2**64). The discounted rate
     * is `ceil(rate * (10_000 - d) / 10_000)`; an oracle that reverts, has no code, returns garbage or uses
     * more than `DISCOUNT_GAS` gas gives no discount. Emits {LeaseOpened}.
     * @param nodeId The node.
     * @param ratePerSecond Quoted (list) rate in 10**-6 credit units per second.
     * @param deposit Initial balance.
     * @param specHash Hash of the deployment spec.
     * @param quote The engine's quote signature.
     * @return leaseId The new lease id (see the contract notes for its layout).
     */
    function open(
        uint64 nodeId,
        uint256 ratePerSecond,
        uint256 deposit,
        bytes32 specHash,
        QuoteSignature calldata quote
    ) external returns (uint256 leaseId);

    /**
     * @notice {open} with an EIP-2612 permit (spender = this escrow, value = `deposit`) signed by the caller.
     * @dev A failing permit (e.g. used by a front-runner) is ignored; the pull then needs the allowance.
     * @param nodeId The node.
     * @param ratePerSecond Quoted rate.
     * @param deposit Initial balance.
     * @param specHash Hash of the deployment spec.
     * @param quote The engine's quote signature (as {open}).
     * @param deadline Permit deadline.
     * @param v Signature v.
     * @param r Signature r.
     * @param s Signature s.
     * @return leaseId The new lease id.
     */
    function openWithPermit(
        uint64 nodeId,
        uint256 ratePerSecond,
        uint256 deposit,
        bytes32 specHash,
        QuoteSignature calldata quote,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 leaseId);

    /**
     * @notice Adds `amount` from the caller to an open lease.
     * @dev Settlement first: the lease must not have run dry (else {LeaseDepleted}; settle it, it closes).
     * A lease that has not run dry accrues linearly, so moving the payout to the next settlement changes
     * nothing for anyone; this saves the settlement writes. Emits {LeaseToppedUp}.
     * @param leaseId The lease.
     * @param amount The amount to add.
     */
    function topUp(uint256 leaseId, uint256 amount) external;

    /**
     * @notice {open} for `req.payer`, authorised by the payer's EIP-712 signature `sig` over `req`; anyone may
     * submit it. `permit` (unless its value is zero) is applied first for `req.deposit`; a permit that fails
     * (e.g. already submitted by a front-runner) is ignored when the allowance covers the deposit.
     * @dev Reverts with {ExpiredSignature}, `InvalidAccountNonce(payer, expected)`, {InvalidSigner},
     * {PermitFailed}, and as {open}. The discount is the payer's, the quote must name `req.payer`. Emits
     * {LeaseOpened} with `payer`.
     * @param req The signed request.
     * @param quote The engine's quote signature over (req.payer, req.nodeId, req.ratePerSecond, req.specHash).
     * @param permit The payer's credit-token permit for this escrow (value 0 = none).
     * @param sig The payer's signature (65-byte ECDSA, or whatever the payer's EIP-1271 wallet accepts).
     * @return leaseId The new lease id (bound to `req.payer`).
     */
    function openBySig(
        OpenRequest calldata req,
        QuoteSignature calldata quote,
        Permit calldata permit,
        bytes calldata sig
    ) external returns (uint256 leaseId);

    /**
     * @notice {topUp} from `req.payer`'s credit, authorised by the payer's EIP-712 signature; anyone may
     * submit it. `permit` as in {openBySig}, for `req.amount`.
     * @dev Reverts as {openBySig} and {topUp}. Emits {LeaseToppedUp} with `from = payer`.
     * @param req The signed request.
     * @param permit The payer's credit-token permit for this escrow (value 0 = none).
     * @param sig The payer's signature.
     */
    function topUpBySig(TopUpRequest calldata req, Permit calldata permit, bytes calldata sig) external;

    /**
     * @notice {close} by the lease's payer, authorised by its EIP-712 signature; anyone may submit it. The
     * refund always goes to the payer.
     * @dev Reverts with {ExpiredSignature}, `InvalidAccountNonce`, {InvalidSigner}, {LeaseNotOpen},
     * {NotLeaseParty} (`req.payer` is not the lease's payer). Emits {LeaseClosed} with `closedBy = payer`.
     * @param req The signed request.
     * @param sig The payer's signature.
     */
    function closeBySig(CloseRequest calldata req, bytes calldata sig) external;

    /**
     * @notice Settles an open lease; the caller earns the keeper tip. Closes the lease if it ran dry.
     * @dev Reverts with {LeaseNotOpen}. Emits {LeaseSettled} (and {LeaseClosed} when emptied); writes and
     * emits nothing when nothing is due (already settled this second).
     * @param leaseId The lease.
     */
    function settle(uint256 leaseId) external;

    /**
     * @notice Settles every open lease in `leaseIds` (closed or unknown ones are skipped); the caller earns
     * the tips, `min(Σ fee * keeperShareBps / 10_000, maxTip)` for the whole call (maxTip is per CALL: the
     * rest of the fees goes to the protocol).
     * @dev Emits ONE {LeasesSettled} (not {LeaseSettled} per lease) when anything was due, then {LeaseClosed}
     * for each lease the batch emptied. Earnings of consecutive leases on the same node are added to the
     * node's owed balance in one write, so callers should group `leaseIds` by node.
     * @param leaseIds The leases.
     */
    function settleMany(uint256[] calldata leaseIds) external;

    /**
     * @notice Settles and closes a lease, refunding the rest to the payer. Only the payer or the node's
     * provider. Emits {LeaseSettled} (if anything was due) and {LeaseClosed}.
     * @param leaseId The lease.
     */
    function close(uint256 leaseId) external;

    /**
     * @notice Pays a node's owed earnings to its payee. Only the payee (as in the registry now).
     * Emits {EarningsWithdrawn}.
     * @param nodeId The node.
     */
    function withdraw(uint64 nodeId) external;

    /// @notice Pays the caller's keeper tips. Emits {TipsWithdrawn}.
    function withdrawTips() external;

    /// @notice Sends the accrued platform fees to the treasury (callable by anyone). Emits {FeesWithdrawn}.
    function withdrawFees() external;

    /**
     * @notice Sets how much {autoTopUp} may pull from the caller in any 24-hour window (0 disables); the
     * bucket starts full (`maxPerDay / 2`, see the contract notes).
     * Emits {AutoTopUpSet}.
     * @param maxPerDay The daily cap in 10**-6 credit units (< 2**96).
     */
    function setAutoTopUp(uint256 maxPerDay) external;

    /**
     * @notice Tops a lease up from its payer's allowance within the payer's daily cap. Only `TOPUP_ROLE`.
     * @dev Reverts with {AutoTopUpExceeded}, and as {topUp}. Emits {LeaseToppedUp} and {AutoToppedUp}.
     * @param leaseId The lease.
     * @param amount The amount to pull.
     */
    function autoTopUp(uint256 leaseId, uint256 amount) external;

    // ---- admin ----------------------------------------------------------------------------------------

    /**
     * @notice Sets the fee parameters. Only `DEFAULT_ADMIN_ROLE`. `feeBps` <= `MAX_FEE_BPS`,
     * `keeperShareBps` <= 10_000. Emits {FeeParamsSet}.
     * @param feeBps Platform fee in basis points.
     * @param keeperShareBps Keeper share of the fee in basis points.
     * @param maxTip Largest tip per settlement call.
     */
    function setFeeParams(uint16 feeBps, uint16 keeperShareBps, uint64 maxTip) external;

    /**
     * @notice Sets the discount oracle; zero disables discounts. Only `DEFAULT_ADMIN_ROLE`.
     * @param oracle The oracle.
     */
    function setDiscountOracle(address oracle) external;

    /**
     * @notice Sets the treasury receiving fees. Only `DEFAULT_ADMIN_ROLE`.
     * @param treasury The treasury (non-zero).
     */
    function setTreasury(address treasury) external;

    // ---- views ----------------------------------------------------------------------------------------

    /**
     * @notice A lease's stored state (not settled to now; see {dueNow}).
     * @param leaseId The lease.
     * @return The lease (zero values when unknown).
     */
    function lease(uint256 leaseId) external view returns (LeaseView memory);

    /**
     * @notice What a settlement now would take from the lease: `min(balance, rate * elapsed)`.
     * @param leaseId The lease.
     * @return due The amount.
     */
    function dueNow(uint256 leaseId) external view returns (uint256 due);

    /**
     * @notice The payer bound into a lease id.
     * @param leaseId The lease id.
     * @return The payer.
     */
    function payerOf(uint256 leaseId) external pure returns (address);

    /**
     * @notice Settled earnings owed to a node, not yet withdrawn.
     * @param nodeId The node.
     * @return The amount.
     */
    function nodeOwed(uint64 nodeId) external view returns (uint256);

    /**
     * @notice Keeper tips owed to an account.
     * @param keeper The account.
     * @return The amount.
     */
    function tipsOwed(address keeper) external view returns (uint256);

    /// @notice Platform fees owed to the treasury.
    /// @return The amount.
    function feesOwed() external view returns (uint256);

    /**
     * @notice The fee parameters.
     * @return feeBps Platform fee in basis points.
     * @return keeperShareBps Keeper share of the fee.
     * @return maxTip Largest tip per settlement call.
     */
    function feeParams() external view returns (uint256 feeBps, uint256 keeperShareBps, uint256 maxTip);

    /**
     * @notice A payer's auto top-up state.
     * @param payer The payer.
     * @return maxPerDay The cap over any 24-hour window.
     * @return available What {autoTopUp} may pull now.
     */
    function autoTopUpOf(address payer) external view returns (uint256 maxPerDay, uint256 available);

    /**
     * @notice `true` stops new opens, top-ups and auto top-ups; `false` lifts it (PAUSER_ROLE). Settle, close,
     * refunds and withdrawals always work. One function for both (every external function costs the hot
     * paths dispatch gas). Emits {PauseSet}.
     * @param paused_ The new state.
     */
    function setPaused(bool paused_) external;

    /**
     * @notice Leases open on `nodeId` (the registry counts a provider's nodes with open leases).
     * @param nodeId The node.
     * @return The number of open leases.
     */
    function openLeaseCount(uint64 nodeId) external view returns (uint256);


    /// @notice Whether opens and top-ups are paused.
    /// @return True while paused.
    function paused() external view returns (bool);

    /**
     * @notice The EIP-712 digest the quote signer signs for these terms (cross-checking off-chain signers).
     * @param payer The payer.
     * @param nodeId The node.
     * @param ratePerSecond The list rate.
     * @param specHash The spec hash.
     * @param expiry The quote's expiry.
     * @return The digest.
     */
    function digestQuote(address payer, uint64 nodeId, uint256 ratePerSecond, bytes32 specHash, uint256 expiry)
        external
        view
        returns (bytes32);

    /// @notice Number of leases ever opened.
    /// @return The count.
    function leaseCount() external view returns (uint256);

    /// @notice The discount oracle (zero = none).
    /// @return The oracle.
    function discountOracle() external view returns (address);

    /// @notice The credit token.
    /// @return The token.
    function creditToken() external view returns (address);

    /// @notice The provider registry.
    /// @return The registry.
    function registry() external view returns (address);

    /// @notice Where fees go.
    /// @return The treasury.
    function treasury() external view returns (address);

    /**
     * @notice The next nonce a signed request of `owner` must carry.
     * @param owner The payer.
     * @return The nonce.
     */
    function nonces(address owner) external view returns (uint256);

    /**
     * @notice The EIP-712 digest a payer signs for `req` (`keccak256("\x19\x01" || domainSeparator ||
     * hashStruct(req))`).
     * @param req The request.
     * @return The digest.
     */
    function digestOpenRequest(OpenRequest calldata req) external view returns (bytes32);

    /**
     * @notice The EIP-712 digest a payer signs for `req`.
     * @param req The request.
     * @return The digest.
     */
    function digestTopUpRequest(TopUpRequest calldata req) external view returns (bytes32);

    /**
     * @notice The EIP-712 digest a payer signs for `req`.
     * @param req The request.
     * @return The digest.
     */
    function digestCloseRequest(CloseRequest calldata req) external view returns (bytes32);

    /// @notice The role allowed to call {autoTopUp}.
    /// @return `keccak256("TOPUP_ROLE")`.
    // Role constants are upper-case by OpenZeppelin convention (DEFAULT_ADMIN_ROLE).
    // slither-disable-next-line naming-convention
    function TOPUP_ROLE() external view returns (bytes32);
}
