// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IAllianceSplits
 * @notice Provider alliances: many alliances in one contract, each splitting the lease earnings of its
 * members' nodes by weight. Members are paid by a per-alliance accumulator and claim what they earned (pull);
 * no function loops over members.
 *
 * Lifecycle of an alliance: {propose} (name hash, terms hash, admin, notice period, per-node unit cap) makes
 * the proposer an `Active` member; the admin {invite}s providers (`Invited`), each {accept}s the terms hash on
 * chain (`Active`). A member {requestLeave}s (`Leaving`, still earning through the notice period), withdraws
 * its nodes once the notice has passed, then {leave}s (`Left`). The operator may {suspend} a member (weight
 * -> 0 at once, settled first) and {reinstate} it.
 *
 * Nodes and weight: a member points its node's payee in the ProviderRegistry at this contract
 * (`registry.setNodePayee(nodeId, address(this))`, a transaction by the node's provider) and then
 * {contribute}s the node with a declared number of capacity units, `1 <= units <= maxUnitsPerNode` of the
 * alliance. The node must exist, not be removed, belong to the caller in the registry and already pay this
 * contract. A member's weight is the sum of the units of its contributed nodes (0 while suspended). A node
 * leaves an alliance after the notice period: {requestNodeExit}, then {withdrawNode} (which first books the
 * node's unpaid escrow earnings to the alliance). Anyone may {checkNode}: a node whose payee no longer is this
 * contract, that was removed or that changed provider loses its units at once.
 *
 * Revenue: {collect}`(nodeId)` withdraws the node's earnings from the escrow (this contract is the node's
 * payee) and books the amount received to the node's alliance: `accPerShare += amount * 1e36 / totalShares`
 * (rounded down). {distribute} books credit paid in by anyone. A member's claimable amount is
 * `owed + weight * (accPerShare - snapshot) / 1e36` (rounded down); it is settled into `owed` before every
 * change of the member's weight, so a weight change never moves revenue already earned. Rounding is always
 * down, so dust stays in the contract (never paid to anyone): less than 1 unit per settlement of a member (a
 * claim or a weight change), less than 1 unit per member for its unsettled share, and less than
 * `totalShares / 1e36` units per booking.
 * Booking to an alliance without shares reverts (the earnings stay in the escrow). A suspended member's nodes
 * stay contributed and keep paying the alliance while the member's weight is zero; it may withdraw them
 * without notice.
 *
 * Trust: the registry lets a node's provider change the payee at any time. Earnings the escrow holds for a
 * node whose payee was moved away go to the new payee; {checkNode} then removes the node's units (anyone,
 * e.g. the engine on the indexed `NodePayeeSet`), but cannot recover what was withdrawn meanwhile.
 *
 * Limits: `accPerShare` is stored in 192 bits: an alliance can receive up to about 6.2e21 credit units
 * (6.2e15 credits) per unit of weight over its lifetime before booking reverts.
 */
interface IAllianceSplits {
    /// @notice Where an account is in an alliance.
    enum MemberStatus {
        None,
        Invited,
        Active,
        Leaving,
        Suspended,
        Left
    }

    /**
     * @notice An alliance's record.
     * @param admin Invites members.
     * @param noticePeriod Seconds between {requestLeave} / {requestNodeExit} and leaving / withdrawing the node.
     * @param maxUnitsPerNode Most capacity units one node may declare.
     * @param memberCount Members `Active`, `Leaving` or `Suspended`.
     * @param totalShares Sum of the weights of the members.
     * @param accPerShare Credit units booked per unit of weight since creation, scaled by 1e36.
     * @param nameHash keccak256 of the alliance's name.
     * @param termsHash keccak256 of the terms members accept.
     */
    struct AllianceInfo {
        address admin;
        uint32 noticePeriod;
        uint32 maxUnitsPerNode;
        uint32 memberCount;
        uint64 totalShares;
        uint256 accPerShare;
        bytes32 nameHash;
        bytes32 termsHash;
    }

    /**
     * @notice A member's record.
     * @param status Where the member is.
     * @param leaveAt When a `Leaving` member may leave (zero otherwise).
     * @param nodes Nodes the member has contributed.
     * @param units Sum of the units of those nodes.
     * @param weight Shares the member holds (`units`, or zero while suspended or after leaving).
     * @param claimable Credit units the member can claim now.
     */
    struct MemberInfo {
        MemberStatus status;
        uint32 leaveAt;
        uint32 nodes;
        uint64 units;
        uint64 weight;
        uint256 claimable;
    }

    /**
     * @notice A contributed node.
     * @param allianceId The alliance (zero if the node is not contributed).
     * @param member The member that contributed it.
     * @param units Its declared capacity units.
     * @param exitAt When it may be withdrawn (zero until {requestNodeExit}).
     */
    struct NodeEntry {
        uint32 allianceId;
        address member;
        uint32 units;
        uint32 exitAt;
    }

    // ---- errors ---------------------------------------------------------------------------------------

    /// @notice Thrown when an address argument is zero.
    error ZeroAddress();

    /**
     * @notice Thrown when an alliance id is unknown.
     * @param allianceId The id.
     */
    error UnknownAlliance(uint256 allianceId);

    /**
     * @notice Thrown when a caller that is not the alliance's admin administers it.
     * @param allianceId The alliance.
     * @param caller The caller.
     */
    error NotAllianceAdmin(uint256 allianceId, address caller);

    /**
     * @notice Thrown when an account is not in the status the operation needs.
     * @param allianceId The alliance.
     * @param account The account.
     * @param status Its status.
     */
    error InvalidMemberStatus(uint256 allianceId, address account, MemberStatus status);

    /**
     * @notice Thrown when {accept} names other terms than the alliance's.
     * @param allianceId The alliance.
     * @param termsHash The alliance's terms hash.
     */
    error TermsMismatch(uint256 allianceId, bytes32 termsHash);

    /**
     * @notice Thrown when a node's declared units are zero or above the alliance's cap.
     * @param units The declared units.
     * @param maxUnits The cap.
     */
    error InvalidUnits(uint256 units, uint256 maxUnits);

    /**
     * @notice Thrown when a node is already contributed to an alliance.
     * @param nodeId The node.
     * @param allianceId Its alliance.
     */
    error NodeAlreadyContributed(uint64 nodeId, uint256 allianceId);

    /**
     * @notice Thrown when a node is not contributed to any alliance.
     * @param nodeId The node.
     */
    error NodeNotContributed(uint64 nodeId);

    /**
     * @notice Thrown when the caller is not the node's provider in the registry (or the node is removed).
     * @param nodeId The node.
     * @param caller The caller.
     */
    error NotNodeOwner(uint64 nodeId, address caller);

    /**
     * @notice Thrown when a node contributed does not pay this contract in the registry.
     * @param nodeId The node.
     * @param payee Its payee.
     */
    error PayeeNotSplits(uint64 nodeId, address payee);

    /**
     * @notice Thrown when a notice period has not passed yet.
     * @param availableAt When it passes (zero: notice not given).
     */
    error NoticeNotElapsed(uint256 availableAt);

    /**
     * @notice Thrown when a member leaves while it still has contributed nodes.
     * @param nodes Its nodes.
     */
    error NodesRemaining(uint256 nodes);

    /**
     * @notice Thrown when revenue is booked to an alliance whose members hold no shares.
     * @param allianceId The alliance.
     */
    error NoShares(uint256 allianceId);

    /// @notice Thrown when there is nothing to collect, distribute or claim.
    error NothingToPay();

    /**
     * @notice Thrown when a node's check finds it still valid.
     * @param nodeId The node.
     */
    error NodeStillValid(uint64 nodeId);

    /**
     * @notice Thrown when a value does not fit its storage.
     * @param value The value.
     * @param max The largest allowed.
     */
    error ValueTooLarge(uint256 value, uint256 max);

    // ---- events ---------------------------------------------------------------------------------------

    /**
     * @notice Emitted when an alliance was proposed.
     * @param allianceId Its id (sequential from 1).
     * @param proposer Its first member.
     * @param admin Its admin.
     * @param nameHash keccak256 of its name.
     * @param termsHash keccak256 of its terms.
     * @param noticePeriod Leave / node-exit notice in seconds.
     * @param maxUnitsPerNode Cap on a node's declared units.
     */
    event AllianceProposed(
        uint256 indexed allianceId,
        address indexed proposer,
        address indexed admin,
        bytes32 nameHash,
        bytes32 termsHash,
        uint256 noticePeriod,
        uint256 maxUnitsPerNode
    );

    /**
     * @notice Emitted when the admin invited an account.
     * @param allianceId The alliance.
     * @param account The account.
     */
    event MemberInvited(uint256 indexed allianceId, address indexed account);

    /**
     * @notice Emitted when an account accepted (it is an active member from now on; weight 0 until it contributes).
     * @param allianceId The alliance.
     * @param account The member.
     */
    event MemberAccepted(uint256 indexed allianceId, address indexed account);

    /**
     * @notice Emitted when a member's weight changed (after its earnings so far were settled).
     * @param allianceId The alliance.
     * @param account The member.
     * @param weight Its new weight.
     * @param totalShares The alliance's new total.
     */
    event WeightChanged(uint256 indexed allianceId, address indexed account, uint256 weight, uint256 totalShares);

    /**
     * @notice Emitted when a member contributed a node.
     * @param allianceId The alliance.
     * @param account The member.
     * @param nodeId The node.
     * @param units Its declared capacity units.
     */
    event NodeContributed(uint256 indexed allianceId, address indexed account, uint64 indexed nodeId, uint256 units);

    /**
     * @notice Emitted when a member gave notice to withdraw a node.
     * @param allianceId The alliance.
     * @param nodeId The node.
     * @param exitAt When it may be withdrawn.
     */
    event NodeExitRequested(uint256 indexed allianceId, uint64 indexed nodeId, uint256 exitAt);

    /**
     * @notice Emitted when a node left its alliance (withdrawn, or dropped by {checkNode}).
     * @param allianceId The alliance.
     * @param account The member that had contributed it.
     * @param nodeId The node.
     * @param units The units it had.
     */
    event NodeWithdrawn(uint256 indexed allianceId, address indexed account, uint64 indexed nodeId, uint256 units);

    /**
     * @notice Emitted when a member gave notice to leave.
     * @param allianceId The alliance.
     * @param account The member.
     * @param leaveAt When it may leave.
     */
    event LeaveRequested(uint256 indexed allianceId, address indexed account, uint256 leaveAt);

    /**
     * @notice Emitted when a member left.
     * @param allianceId The alliance.
     * @param account The former member.
     */
    event MemberLeft(uint256 indexed allianceId, address indexed account);

    /**
     * @notice Emitted when the operator suspended a member.
     * @param allianceId The alliance.
     * @param account The member.
     * @param reason A reference (e.g. the hash of the SLA record).
     */
    event MemberSuspended(uint256 indexed allianceId, address indexed account, bytes32 reason);

    /**
     * @notice Emitted when the operator reinstated a suspended member.
     * @param allianceId The alliance.
     * @param account The member.
     */
    event MemberReinstated(uint256 indexed allianceId, address indexed account);

    /**
     * @notice Emitted when revenue was booked to an alliance.
     * @param allianceId The alliance.
     * @param nodeId The node it was collected for (zero for {distribute}).
     * @param from Who paid it (the escrow for {collect}).
     * @param amount Credit units booked.
     * @param accPerShare The alliance's accumulator after booking.
     */
    event RevenueBooked(
        uint256 indexed allianceId, uint64 indexed nodeId, address indexed from, uint256 amount, uint256 accPerShare
    );

    /**
     * @notice Emitted when a member claimed.
     * @param allianceId The alliance.
     * @param account The member.
     * @param amount Credit units paid.
     */
    event Claimed(uint256 indexed allianceId, address indexed account, uint256 amount);

    // ---- membership -----------------------------------------------------------------------------------

    /**
     * @notice Creates an alliance; the caller becomes its first (active) member.
     * @param nameHash keccak256 of the name.
     * @param termsHash keccak256 of the terms members accept.
     * @param admin Who invites members (may be the caller).
     * @param noticePeriod Seconds of notice to leave or withdraw a node.
     * @param maxUnitsPerNode Cap on a node's declared capacity units (at least 1).
     * @return allianceId The new alliance's id.
     */
    function propose(bytes32 nameHash, bytes32 termsHash, address admin, uint32 noticePeriod, uint32 maxUnitsPerNode)
        external
        returns (uint256 allianceId);

    /**
     * @notice The admin invites `account` (which may be a former member).
     * @param allianceId The alliance.
     * @param account The account.
     */
    function invite(uint256 allianceId, address account) external;

    /**
     * @notice The caller accepts an invitation and the alliance's terms.
     * @param allianceId The alliance.
     * @param termsHash Must equal the alliance's terms hash.
     */
    function accept(uint256 allianceId, bytes32 termsHash) external;

    /**
     * @notice The caller contributes a node it owns whose registry payee is this contract.
     * @param allianceId The alliance (the caller must be `Active`).
     * @param nodeId The node.
     * @param units Its declared capacity units (1..maxUnitsPerNode).
     */
    function contribute(uint256 allianceId, uint64 nodeId, uint32 units) external;

    /**
     * @notice The node's member gives notice to withdraw it.
     * @param nodeId The node.
     */
    function requestNodeExit(uint64 nodeId) external;

    /**
     * @notice The node's member withdraws it after notice (immediately while the member is suspended or has
     * left); the node's unpaid escrow earnings are booked to the alliance first.
     * @param nodeId The node.
     */
    function withdrawNode(uint64 nodeId) external;

    /**
     * @notice Anyone drops a node whose registry payee is no longer this contract, that was removed or that
     * changed provider.
     * @param nodeId The node.
     */
    function checkNode(uint64 nodeId) external;

    /**
     * @notice The caller gives notice to leave.
     * @param allianceId The alliance.
     */
    function requestLeave(uint256 allianceId) external;

    /**
     * @notice The caller leaves after notice (all its nodes withdrawn). What it earned stays claimable.
     * @param allianceId The alliance.
     */
    function leave(uint256 allianceId) external;

    /**
     * @notice The operator suspends a member: its earnings so far are settled and its weight becomes zero.
     * @param allianceId The alliance.
     * @param account The member.
     * @param reason A reference recorded in the event.
     */
    function suspend(uint256 allianceId, address account, bytes32 reason) external;

    /**
     * @notice The operator reinstates a suspended member: its weight is its contributed units again.
     * @param allianceId The alliance.
     * @param account The member.
     */
    function reinstate(uint256 allianceId, address account) external;

    // ---- revenue --------------------------------------------------------------------------------------

    /**
     * @notice Withdraws the node's earnings from the escrow and books them to the node's alliance.
     * @param nodeId A contributed node.
     * @return amount Credit units booked.
     */
    function collect(uint64 nodeId) external returns (uint256 amount);

    /**
     * @notice Pays `amount` credit from the caller (allowance) to an alliance's members.
     * @param allianceId The alliance.
     * @param amount Credit units.
     */
    function distribute(uint256 allianceId, uint256 amount) external;

    /**
     * @notice Pays the caller what it earned in the alliance.
     * @param allianceId The alliance.
     * @return amount Credit units paid.
     */
    function claim(uint256 allianceId) external returns (uint256 amount);

    // ---- views ----------------------------------------------------------------------------------------

    /// @notice Role that may suspend and reinstate members.
    function OPERATOR_ROLE() external view returns (bytes32);

    /// @notice The credit token.
    function creditToken() external view returns (address);

    /// @notice The provider registry.
    function registry() external view returns (address);

    /// @notice The deployment escrow.
    function escrow() external view returns (address);

    /// @notice Alliances created so far (the last id).
    function allianceCount() external view returns (uint256);

    /// @notice An alliance's record.
    function allianceInfo(uint256 allianceId) external view returns (AllianceInfo memory);

    /// @notice A member's record, with what it can claim now.
    function memberInfo(uint256 allianceId, address account) external view returns (MemberInfo memory);

    /// @notice What `account` can claim now.
    function claimable(uint256 allianceId, address account) external view returns (uint256);

    /// @notice A node's entry.
    function nodeEntry(uint64 nodeId) external view returns (NodeEntry memory);
}
