// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IProviderRegistry
 * @notice Cloud providers, their locked credit collateral and their nodes.
 *
 * Lifecycle of a provider: `None` -> {register} -> `Pending` -> operator {approveProvider} -> `Approved`
 * <-> operator {suspendProvider} / {approveProvider} -> `Suspended`; from Pending, Approved or Suspended the
 * provider may {requestExit} -> `Exiting`; after `exitCooldown` seconds {withdrawCollateral} returns what is
 * left of the collateral and resets the record to `None` (the address may register again). Collateral can
 * be seized by `SEIZER_ROLE` in every state while any is left, including during the exit cooldown.
 *
 * A node belongs to one provider and has a payee (the provider itself or, e.g., an alliance address) that
 * collects the node's lease earnings in the escrow. A node is active (may take new leases) while it is not
 * removed and its provider is `Approved`.
 *
 * A node stops being active when it is removed, or when its provider is suspended or requests exit. The
 * escrow stops every lease on a node at that moment ({leaseAccrualEnd}); the registry tells the escrow ({setEscrow},
 * {IEscrowHooks-nodesStopped}) so that it only asks the registry about leases settled before the latest stop.
 * A provider re-approved after a suspension takes new leases; leases that lived through the suspension stay
 * stopped (see {leaseAccrualEnd}). {withdrawCollateral} needs no open lease on the provider's nodes (`busyNodes`, kept
 * O(1) from the escrow's {markNodeBusy} calls) and no unresolved SLA claim ({raiseClaim}; resolved by {seize} with the claim's ref or by
 * {dismissClaim}); the time it becomes possible is fixed when the exit is requested.
 *
 * Maintenance: each node stores one window (start, end) in a single packed slot. A window must start at
 * least `minNotice` seconds ahead, last at most `maxWindowLength` seconds, and no 30-day span holds the starts
 * of more than `maxWindowsPerMonth` windows (at most 8), so no 30-day span holds more than
 * `maxWindowsPerMonth * maxWindowLength` seconds of maintenance. The node keeps the starts of its last 8 windows;
 * a new window starting at `s` is refused when `maxWindowsPerMonth` recorded starts lie in
 * `(s - 30 days, s + 30 days)`. Cancelled windows keep their start recorded: cancelling refunds no quota.
 */
interface IProviderRegistry {
    /// @notice Where a provider is in its lifecycle.
    enum ProviderStatus {
        None,
        Pending,
        Approved,
        Suspended,
        Exiting
    }

    /**
     * @notice Tunable limits, set by the admin.
     * @param minCollateral Least collateral (10**-6 credit units) a provider must lock at registration.
     * @param minNotice Least number of seconds between scheduling a maintenance window and its start.
     * @param maxWindowLength Longest maintenance window, in seconds.
     * @param exitCooldown Seconds between {requestExit} and {withdrawCollateral}.
     * @param maxWindowsPerMonth Most maintenance windows a node may start in any 30-day span (1..8).
     */
    struct RegistryConfig {
        uint96 minCollateral;
        uint32 minNotice;
        uint32 maxWindowLength;
        uint32 exitCooldown;
        uint8 maxWindowsPerMonth;
    }

    /**
     * @notice A provider's record.
     * @param collateral Locked collateral in 10**-6 credit units.
     * @param status Lifecycle state.
     * @param exitAvailableAt When {withdrawCollateral} becomes possible (fixed at {requestExit}), zero unless
     * `Exiting`.
     * @param stoppedAt When the provider last stopped being `Approved` (suspension or exit), zero while approved.
     * @param resumedAt When a suspended provider was last approved again (zero if never).
     * @param prevStoppedAt The `stoppedAt` that the last re-approval cleared.
     * @param openClaims SLA claims filed and not yet resolved.
     * @param busyNodes The provider's nodes with open leases (the escrow reports them, {markNodeBusy}).
     */
    struct ProviderInfo {
        uint96 collateral;
        ProviderStatus status;
        uint32 exitAvailableAt;
        uint32 stoppedAt;
        uint32 resumedAt;
        uint32 prevStoppedAt;
        uint8 openClaims;
        uint16 busyNodes;
    }

    /**
     * @notice A node's record.
     * @param provider The owning provider (zero when the node does not exist).
     * @param payee The address that collects the node's earnings in the escrow.
     * @param removed True once the provider removed the node.
     * @param removedAt When it was removed (zero if not).
     * @param maintenanceStart Start of the node's latest maintenance window (zero if none).
     * @param maintenanceEnd End (exclusive) of that window.
     */
    struct NodeInfo {
        address provider;
        address payee;
        bool removed;
        uint32 removedAt;
        uint32 maintenanceStart;
        uint32 maintenanceEnd;
    }

    // ---- errors ---------------------------------------------------------------------------------------

    /**
     * @notice Thrown when a provider withdraws collateral while leases on its nodes are open.
     * @param provider The provider.
     * @param busyNodes Its nodes with open leases.
     */
    error OpenLeases(address provider, uint256 busyNodes);

    /**
     * @notice Thrown when a provider withdraws collateral while SLA claims against it are unresolved.
     * @param provider The provider.
     * @param openClaims Claims not resolved yet.
     */
    error OpenClaims(address provider, uint256 openClaims);

    /**
     * @notice Thrown when a claim ref is unknown (dismiss) or already filed (file).
     * @param ref The claim ref.
     */
    error InvalidClaim(bytes32 ref);

    /// @notice Thrown when someone other than the escrow calls {markNodeBusy}.
    error NotEscrow();

    /// @notice Thrown when a config value is out of range (`maxWindowsPerMonth` must be 1..8).
    error InvalidConfig();

    /// @notice Thrown when an amount of zero is given where a positive one is needed.
    error ZeroAmount();

    /// @notice Thrown when the zero address is given where an account is needed.
    error ZeroAddress();

    /**
     * @notice Thrown when an amount does not fit the 96-bit storage field.
     * @param amount The amount given.
     * @param max The largest amount accepted.
     */
    error AmountTooLarge(uint256 amount, uint256 max);

    /**
     * @notice Thrown when a registration locks less than the configured minimum.
     * @param collateral The amount offered.
     * @param minCollateral The minimum required.
     */
    error CollateralBelowMinimum(uint256 collateral, uint256 minCollateral);

    /**
     * @notice Thrown when a provider is not in a state that allows the operation.
     * @param provider The provider.
     * @param status Its current status.
     */
    error InvalidProviderStatus(address provider, ProviderStatus status);

    /**
     * @notice Thrown when collateral is withdrawn before the exit cooldown has passed.
     * @param provider The provider.
     * @param availableAt The first timestamp at which withdrawal is possible.
     */
    error ExitCooldownActive(address provider, uint256 availableAt);

    /**
     * @notice Thrown when a seizure asks for more than the provider's collateral.
     * @param provider The provider.
     * @param amount The amount asked.
     * @param collateral The collateral left.
     */
    error SeizeExceedsCollateral(address provider, uint256 amount, uint256 collateral);

    /// @notice Thrown when a seizure is made with the zero reference.
    error ZeroRef();

    /**
     * @notice Thrown when a seizure reference was used before.
     * @param ref The reference (e.g. the hash of an SLA breach id).
     */
    error RefAlreadyUsed(bytes32 ref);

    /**
     * @notice Thrown when a node id is unknown or the node was removed.
     * @param nodeId The node id.
     */
    error UnknownNode(uint64 nodeId);

    /**
     * @notice Thrown when someone other than the node's provider manages it.
     * @param nodeId The node id.
     * @param caller The caller.
     */
    error NotNodeProvider(uint64 nodeId, address caller);

    /**
     * @notice Thrown when a maintenance window is malformed or too long.
     * @param start The window start.
     * @param end The window end.
     */
    error InvalidWindow(uint256 start, uint256 end);

    /**
     * @notice Thrown when a maintenance window starts too soon.
     * @param start The window start.
     * @param earliest The earliest start allowed now.
     */
    error NoticeTooShort(uint256 start, uint256 earliest);

    /**
     * @notice Thrown when a new window would put more than `maxWindowsPerMonth` starts in a 30-day span.
     * @param nodeId The node id.
     * @param start The refused window's start.
     */
    error MonthlyWindowLimitReached(uint64 nodeId, uint256 start);

    /**
     * @notice Thrown when a node schedules a window while its previous one has not ended.
     * @param nodeId The node id.
     * @param end End of the pending window.
     */
    error MaintenancePending(uint64 nodeId, uint256 end);

    /**
     * @notice Thrown when cancelling a window that does not exist or has started.
     * @param nodeId The node id.
     */
    error NoCancellableWindow(uint64 nodeId);

    // ---- events ---------------------------------------------------------------------------------------

    /**
     * @notice Emitted when a provider registered and locked collateral.
     * @param provider The provider.
     * @param collateral The amount locked.
     */
    event ProviderRegistered(address indexed provider, uint256 collateral);

    /**
     * @notice Emitted when a provider added collateral.
     * @param provider The provider.
     * @param amount The amount added.
     * @param collateral The collateral after the addition.
     */
    event CollateralAdded(address indexed provider, uint256 amount, uint256 collateral);

    /**
     * @notice Emitted when an operator approved (or re-approved) a provider.
     * @param provider The provider.
     * @param operator The operator.
     */
    event ProviderApproved(address indexed provider, address indexed operator);

    /**
     * @notice Emitted when an operator suspended a provider.
     * @param provider The provider.
     * @param operator The operator.
     * @param reason An operator-chosen reason code or hash.
     */
    event ProviderSuspended(address indexed provider, address indexed operator, bytes32 reason);

    /**
     * @notice Emitted when a provider asked to exit; its nodes stop taking leases.
     * @param provider The provider.
     * @param withdrawableAt When {withdrawCollateral} becomes possible.
     */
    event ExitRequested(address indexed provider, uint256 withdrawableAt);

    /**
     * @notice Emitted when an exited provider withdrew its remaining collateral.
     * @param provider The provider.
     * @param amount The amount returned.
     */
    event CollateralWithdrawn(address indexed provider, uint256 amount);

    /**
     * @notice Emitted when collateral was seized and sent to the treasury.
     * @param provider The provider.
     * @param amount The amount seized.
     * @param ref The single-use reference of the seizure.
     * @param evidenceHash Hash of the evidence (e.g. SLA measurements) kept off-chain.
     * @param treasury The treasury that received the amount.
     */
    event CollateralSeized(
        address indexed provider, uint256 amount, bytes32 indexed ref, bytes32 evidenceHash, address treasury
    );

    /**
     * @notice Emitted when a provider added a node.
     * @param nodeId The new node id.
     * @param provider The provider.
     * @param payee The node's payee.
     */
    event NodeAdded(uint64 indexed nodeId, address indexed provider, address payee);

    /**
     * @notice Emitted when a node's payee changed.
     * @param nodeId The node id.
     * @param payee The new payee.
     */
    event NodePayeeSet(uint64 indexed nodeId, address indexed payee);

    /**
     * @notice Emitted when a provider removed a node.
     * @param nodeId The node id.
     */
    event NodeRemoved(uint64 indexed nodeId);

    /**
     * @notice Emitted when a provider stops being `Approved` (suspended or exiting): every lease on its nodes
     * stops accruing at `at`.
     * @param provider The provider.
     * @param at The time leases stop.
     */
    event ProviderDeactivated(address indexed provider, uint256 at);

    /**
     * @notice Emitted when an SLA claim is filed against a provider (blocks collateral withdrawal).
     * @param provider The provider.
     * @param ref The claim ref (resolved by {seize} with this ref or {dismissClaim}).
     */
    event ClaimFiled(address indexed provider, bytes32 indexed ref);

    /**
     * @notice Emitted when an SLA claim is resolved (seized or dismissed).
     * @param provider The provider.
     * @param ref The claim ref.
     */
    event ClaimResolved(address indexed provider, bytes32 indexed ref);

    /**
     * @notice Emitted when the admin sets the escrow told about stops and asked about open leases.
     * @param escrow The escrow.
     */
    event EscrowSet(address indexed escrow);

    /**
     * @notice Emitted when a maintenance window was scheduled.
     * @param nodeId The node id.
     * @param start Window start (inclusive).
     * @param end Window end (exclusive).
     */
    event MaintenanceScheduled(uint64 indexed nodeId, uint256 start, uint256 end);

    /**
     * @notice Emitted when a maintenance window that had not started was cancelled.
     * @param nodeId The node id.
     */
    event MaintenanceCancelled(uint64 indexed nodeId);

    /**
     * @notice Emitted when the admin changed the limits.
     * @param config The new limits.
     */
    event ConfigSet(RegistryConfig config);

    /**
     * @notice Emitted when the admin changed the treasury.
     * @param treasury The new treasury.
     */
    event TreasurySet(address indexed treasury);

    // ---- providers ------------------------------------------------------------------------------------

    /**
     * @notice Registers the caller as a provider, pulling `collateral` with `transferFrom` (needs allowance).
     * @dev Reverts with {InvalidProviderStatus} unless the caller's status is `None`,
     * {CollateralBelowMinimum} below `minCollateral`. Emits {ProviderRegistered}.
     * @param collateral Amount to lock, in 10**-6 credit units.
     */
    function register(uint256 collateral) external;

    /**
     * @notice {register} with an EIP-2612 permit for this registry signed by the caller.
     * @dev A permit that fails (e.g. already used by a front-runner) is ignored when the allowance suffices.
     * @param collateral Amount to lock.
     * @param deadline Permit deadline.
     * @param v Signature v.
     * @param r Signature r.
     * @param s Signature s.
     */
    function registerWithPermit(uint256 collateral, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external;

    /**
     * @notice Locks more collateral for the caller (any status but `None` and `Exiting`).
     * @param amount Amount to add.
     */
    function addCollateral(uint256 amount) external;

    /**
     * @notice Approves a `Pending` or `Suspended` provider. Only `OPERATOR_ROLE`. Emits {ProviderApproved}.
     * @param provider The provider.
     */
    function approveProvider(address provider) external;

    /**
     * @notice Suspends a `Pending` or `Approved` provider; its nodes stop taking leases (running leases go
     * on). Only `OPERATOR_ROLE`. Emits {ProviderSuspended}.
     * @param provider The provider.
     * @param reason A reason code or hash.
     */
    function suspendProvider(address provider, bytes32 reason) external;

    /// @notice Starts the caller's exit and its cooldown. Emits {ExitRequested}.
    function requestExit() external;

    /// @notice Returns the caller's remaining collateral after the exit cooldown. Emits {CollateralWithdrawn}.
    function withdrawCollateral() external;

    /**
     * @notice Sends `amount` of `provider`'s collateral to the treasury. Only `SEIZER_ROLE`.
     * @dev Each `ref` is usable once. Reverts with {SeizeExceedsCollateral} above the collateral left.
     * Does not change the provider's status (operators suspend separately). Emits {CollateralSeized}.
     * @param provider The provider.
     * @param amount The amount to seize.
     * @param ref Single-use reference (e.g. hash of the SLA breach id).
     * @param evidenceHash Hash of the off-chain evidence.
     */
    function seize(address provider, uint256 amount, bytes32 ref, bytes32 evidenceHash) external;

    // ---- nodes ----------------------------------------------------------------------------------------

    /**
     * @notice Adds a node owned by the caller (status `Pending`, `Approved` or `Suspended`).
     * @param payee Who collects the node's earnings; zero means the caller.
     * @return nodeId The new node id (sequential from 1).
     */
    function addNode(address payee) external returns (uint64 nodeId);

    /**
     * @notice Changes a node's payee. Only the node's provider. Earnings not yet withdrawn in the escrow go
     * to the payee at withdrawal time, so withdraw before switching. Emits {NodePayeeSet}.
     * @param nodeId The node id.
     * @param payee The new payee (non-zero).
     */
    function setNodePayee(uint64 nodeId, address payee) external;

    /**
     * @notice Removes a node for good; it takes no new leases. Only the node's provider. Emits {NodeRemoved}.
     * @param nodeId The node id.
     */
    function removeNode(uint64 nodeId) external;

    /**
     * @notice Schedules a maintenance window [start, end) for a node. Only the node's provider.
     * @dev Reverts with {NoticeTooShort}, {InvalidWindow}, {MaintenancePending} (previous window not ended)
     * or {MonthlyWindowLimitReached}. Emits {MaintenanceScheduled}.
     * @param nodeId The node id.
     * @param start Window start (Unix seconds).
     * @param end Window end (Unix seconds, exclusive).
     */
    function scheduleMaintenance(uint64 nodeId, uint32 start, uint32 end) external;

    /**
     * @notice Cancels a node's window that has not started. Only the node's provider. The window still
     * keeps counting toward the 30-day limit. Emits {MaintenanceCancelled}.
     * @param nodeId The node id.
     */
    function cancelMaintenance(uint64 nodeId) external;

    // ---- admin ----------------------------------------------------------------------------------------

    /**
     * @notice Replaces the limits. Only `DEFAULT_ADMIN_ROLE`. Emits {ConfigSet}.
     * @param config The new limits.
     */
    function setConfig(RegistryConfig calldata config) external;

    /**
     * @notice Replaces the treasury receiving seized collateral. Only `DEFAULT_ADMIN_ROLE`.
     * @param treasury The new treasury (non-zero).
     */
    function setTreasury(address treasury) external;

    // ---- views ----------------------------------------------------------------------------------------

    /// @notice The credit token used as collateral.
    /// @return The token address.
    function creditToken() external view returns (address);

    /**
     * @notice Files an SLA claim against `provider` (SEIZER_ROLE); until resolved the provider cannot
     * withdraw collateral. Reverts {ZeroRef}, {InvalidClaim} if `ref` was filed or used before.
     * @param provider The provider.
     * @param ref The claim ref (later passed to {seize} or {dismissClaim}).
     */
    function raiseClaim(address provider, bytes32 ref) external;

    /**
     * @notice Resolves a filed claim without seizing (SEIZER_ROLE). Reverts {InvalidClaim} if not filed.
     * @param ref The claim ref.
     */
    function dismissClaim(bytes32 ref) external;

    /**
     * @notice Sets the escrow (DEFAULT_ADMIN_ROLE): told when nodes stop, asked for open leases at withdrawal.
     * @param escrow_ The escrow (zero: none; then opens revert in {markNodeBusy}: set it before any lease).
     */
    function setEscrow(address escrow_) external;

    /**
     * @notice Called by the escrow when a node gets its first open lease (`busy`) or loses its last one.
     * Reverts {NotEscrow} for any other caller.
     * @param nodeId The node.
     * @param busy Whether the node now has open leases.
     */
    function markNodeBusy(uint64 nodeId, bool busy) external;

    /// @notice The escrow told about stops ({setEscrow}).
    /// @return The escrow address (zero if none).
    function escrow() external view returns (address);

    /**
     * @notice Until when a lease on `nodeId` settled up to `since` may accrue: the node's removal time, the
     * provider's current stop time, and for a lease settled before the provider's last re-approval the stop
     * that re-approval cleared (not before `since`); `type(uint256).max` if none applies. Exact when at most
     * one suspension cycle passed since `since` (keepers settle far more often); with more, the lease is
     * charged up to the latest stop before the re-approval.
     * @param nodeId The node.
     * @param since The lease's settledAt.
     * @return end The accrual end (`>= since` unless the node was removed before `since`).
     */
    function leaseAccrualEnd(uint64 nodeId, uint256 since) external view returns (uint256 end);


    /// @notice The current limits.
    /// @return The limits.
    function config() external view returns (RegistryConfig memory);

    /// @notice Where seized collateral goes.
    /// @return The treasury address.
    function treasury() external view returns (address);

    /**
     * @notice A provider's record.
     * @param provider The provider.
     * @return The record (zero values when unknown).
     */
    function providerInfo(address provider) external view returns (ProviderInfo memory);

    /**
     * @notice A node's record.
     * @param nodeId The node id.
     * @return The record (zero values when unknown).
     */
    function nodeInfo(uint64 nodeId) external view returns (NodeInfo memory);

    /// @notice Number of nodes ever added (the last node id).
    /// @return The count.
    function nodeCount() external view returns (uint64);

    /**
     * @notice Whether a node may take new leases: it exists, is not removed, and its provider is `Approved`.
     * Maintenance does not make a node inactive (placement off-chain skips nodes in maintenance).
     * @param nodeId The node id.
     * @return True when active.
     */
    function isNodeActive(uint64 nodeId) external view returns (bool);

    /**
     * @notice The node's payee (zero for an unknown node; removed nodes keep theirs so earnings stay
     * withdrawable).
     * @param nodeId The node id.
     * @return The payee.
     */
    function nodePayee(uint64 nodeId) external view returns (address);

    /**
     * @notice The node's provider (zero for an unknown node).
     * @param nodeId The node id.
     * @return The provider.
     */
    function nodeProvider(uint64 nodeId) external view returns (address);

    /**
     * @notice Whether the node is inside its maintenance window now.
     * @param nodeId The node id.
     * @return True when `start <= block.timestamp < end`.
     */
    function inMaintenance(uint64 nodeId) external view returns (bool);

    /**
     * @notice Whether a seizure reference was used.
     * @param ref The reference.
     * @return True once used.
     */
    function seizeRefUsed(bytes32 ref) external view returns (bool);

    /// @notice The role that approves and suspends providers.
    /// @return `keccak256("OPERATOR_ROLE")`.
    // Role constants are upper-case by OpenZeppelin convention (DEFAULT_ADMIN_ROLE).
    // slither-disable-next-line naming-convention
    function OPERATOR_ROLE() external view returns (bytes32);

    /// @notice The role that seizes collateral (the SLA oracle or an operator).
    /// @return `keccak256("SEIZER_ROLE")`.
    // slither-disable-next-line naming-convention
    function SEIZER_ROLE() external view returns (bytes32);
}
