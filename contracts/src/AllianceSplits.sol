// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IAllianceSplits} from "./interfaces/IAllianceSplits.sol";
import {IDeploymentEscrow} from "./interfaces/IDeploymentEscrow.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";

/**
 * @title AllianceSplits
 * @notice Many provider alliances in one contract; each splits its nodes' escrow earnings by weight through a
 * per-share accumulator, members claim (pull). See {IAllianceSplits}.
 * @dev Storage per alliance: one hot word (accPerShare uint192 | totalShares uint64), one config word, two
 * hashes. Per member: a share word (weight uint64 | snapshot uint192) and a record word (status | leaveAt |
 * nodes | units | owed uint96). Per node: one word. {claim} touches the alliance's hot word and the member's
 * two words; {collect} the node word and the alliance's hot word: no function loops over members.
 * Reentrancy: checks-effects-interactions throughout: revenue is booked from the escrow's `nodeOwed` view
 * before `escrow.withdraw` pulls it (the escrow transfers exactly that amount to the node's payee), token
 * transfers come last, and the only contracts called are the immutable credit token (hookless), escrow and
 * registry of the marketplace. No ReentrancyGuard.
 */
contract AllianceSplits is IAllianceSplits, AccessControlDefaultAdminRules {
    using SafeERC20 for IERC20;

    /// @inheritdoc IAllianceSplits
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @dev Accumulator scale.
    uint256 private constant _SCALE = 1e36;
    uint48 private constant _ADMIN_TRANSFER_DELAY = 2 days;

    struct Pool {
        uint192 accPerShare;
        uint64 totalShares;
    }

    struct Config {
        address admin;
        uint32 noticePeriod;
        uint32 maxUnitsPerNode;
        uint32 memberCount;
    }

    struct Alliance {
        Pool pool;
        Config config;
        bytes32 nameHash;
        bytes32 termsHash;
    }

    struct Share {
        uint64 weight;
        uint192 snapshot;
    }

    struct Member {
        MemberStatus status;
        uint32 leaveAt;
        uint32 nodes;
        uint64 units;
        uint96 owed;
    }

    IERC20 private immutable _token;
    IProviderRegistry private immutable _registry;
    IDeploymentEscrow private immutable _escrow;

    uint32 private _allianceCount;
    mapping(uint256 allianceId => Alliance) private _alliances;
    mapping(uint256 allianceId => mapping(address account => Share)) private _shares;
    mapping(uint256 allianceId => mapping(address account => Member)) private _members;
    mapping(uint64 nodeId => NodeEntry) private _nodes;

    /**
     * @param token_ The credit token the escrow pays in.
     * @param registry_ The provider registry (node owners and payees).
     * @param escrow_ The deployment escrow (node earnings).
     * @param admin Receives `DEFAULT_ADMIN_ROLE` (grants `OPERATOR_ROLE`).
     */
    constructor(IERC20 token_, IProviderRegistry registry_, IDeploymentEscrow escrow_, address admin)
        AccessControlDefaultAdminRules(_ADMIN_TRANSFER_DELAY, admin)
    {
        if (
            address(token_) == address(0) || address(registry_) == address(0) || address(escrow_) == address(0)
                || admin == address(0)
        ) revert ZeroAddress();
        _token = token_;
        _registry = registry_;
        _escrow = escrow_;
    }

    // ---- membership -----------------------------------------------------------------------------------

    /// @inheritdoc IAllianceSplits
    function propose(bytes32 nameHash, bytes32 termsHash, address admin, uint32 noticePeriod, uint32 maxUnitsPerNode)
        external
        returns (uint256 allianceId)
    {
        if (admin == address(0)) revert ZeroAddress();
        if (maxUnitsPerNode == 0) revert InvalidUnits(0, 0);
        allianceId = uint256(_allianceCount) + 1;
        if (allianceId > type(uint32).max) revert ValueTooLarge(allianceId, type(uint32).max);
        _allianceCount = uint32(allianceId);
        Alliance storage a = _alliances[allianceId];
        a.config = Config({
            admin: admin, noticePeriod: noticePeriod, maxUnitsPerNode: maxUnitsPerNode, memberCount: 1
        });
        a.nameHash = nameHash;
        a.termsHash = termsHash;
        _members[allianceId][msg.sender].status = MemberStatus.Active;
        emit AllianceProposed(allianceId, msg.sender, admin, nameHash, termsHash, noticePeriod, maxUnitsPerNode);
        emit MemberAccepted(allianceId, msg.sender);
    }

    /// @inheritdoc IAllianceSplits
    function invite(uint256 allianceId, address account) external {
        Alliance storage a = _alliances[allianceId];
        address admin = a.config.admin;
        if (admin == address(0)) revert UnknownAlliance(allianceId);
        if (msg.sender != admin) revert NotAllianceAdmin(allianceId, msg.sender);
        if (account == address(0)) revert ZeroAddress();
        Member storage m = _members[allianceId][account];
        MemberStatus status = m.status;
        if (status != MemberStatus.None && status != MemberStatus.Left) {
            revert InvalidMemberStatus(allianceId, account, status);
        }
        m.status = MemberStatus.Invited;
        emit MemberInvited(allianceId, account);
    }

    /// @inheritdoc IAllianceSplits
    function accept(uint256 allianceId, bytes32 termsHash) external {
        Alliance storage a = _alliances[allianceId];
        bytes32 terms = a.termsHash;
        if (termsHash != terms) revert TermsMismatch(allianceId, terms);
        Member storage m = _members[allianceId][msg.sender];
        if (m.status != MemberStatus.Invited) revert InvalidMemberStatus(allianceId, msg.sender, m.status);
        m.status = MemberStatus.Active;
        a.config.memberCount += 1;
        emit MemberAccepted(allianceId, msg.sender);
    }

    /// @inheritdoc IAllianceSplits
    function contribute(uint256 allianceId, uint64 nodeId, uint32 units) external {
        Member storage m = _members[allianceId][msg.sender];
        if (m.status != MemberStatus.Active) revert InvalidMemberStatus(allianceId, msg.sender, m.status);
        uint256 maxUnits = _alliances[allianceId].config.maxUnitsPerNode;
        if (units == 0 || units > maxUnits) revert InvalidUnits(units, maxUnits);
        NodeEntry storage n = _nodes[nodeId];
        uint256 current = n.allianceId;
        if (current != 0) revert NodeAlreadyContributed(nodeId, current);
        IProviderRegistry.NodeInfo memory info = _registry.nodeInfo(nodeId);
        if (info.provider != msg.sender || info.removed) revert NotNodeOwner(nodeId, msg.sender);
        if (info.payee != address(this)) revert PayeeNotSplits(nodeId, info.payee);
        // allianceId <= _allianceCount < 2**32 (the member record exists, so the alliance does).
        n.allianceId = uint32(allianceId);
        n.member = msg.sender;
        n.units = units;
        n.exitAt = 0;
        uint64 total = m.units + units;
        m.nodes += 1;
        m.units = total;
        emit NodeContributed(allianceId, msg.sender, nodeId, units);
        _setWeight(allianceId, msg.sender, total);
    }

    /// @inheritdoc IAllianceSplits
    function requestNodeExit(uint64 nodeId) external {
        NodeEntry storage n = _nodes[nodeId];
        uint256 allianceId = n.allianceId;
        if (allianceId == 0) revert NodeNotContributed(nodeId);
        if (n.member != msg.sender) revert NotNodeOwner(nodeId, msg.sender);
        // uint32 seconds last until 2106.
        uint256 exitAt = block.timestamp + _alliances[allianceId].config.noticePeriod;
        n.exitAt = uint32(exitAt);
        emit NodeExitRequested(allianceId, nodeId, exitAt);
    }

    /// @inheritdoc IAllianceSplits
    function withdrawNode(uint64 nodeId) external {
        NodeEntry memory n = _nodes[nodeId];
        // Exact zero / state checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (n.allianceId == 0) revert NodeNotContributed(nodeId);
        if (n.member != msg.sender) revert NotNodeOwner(nodeId, msg.sender);
        Member storage m = _members[n.allianceId][msg.sender];
        MemberStatus status = m.status;
        if (status != MemberStatus.Suspended) {
            // The earlier of the node's own notice and the member's leave notice.
            uint256 availableAt = n.exitAt;
            // slither-disable-next-line incorrect-equality
            if (status == MemberStatus.Leaving && (availableAt == 0 || m.leaveAt < availableAt)) {
                availableAt = m.leaveAt;
            }
            // Notice periods are days; timestamp drift (seconds) does not matter.
            // slither-disable-next-line timestamp,incorrect-equality
            if (availableAt == 0 || block.timestamp < availableAt) revert NoticeNotElapsed(availableAt);
        }
        // Checks-effects-interactions: book the node's unpaid earnings (at the weights they were earned
        // under), drop the node, then pull the earnings from the escrow.
        uint256 owed = _owedToBook(nodeId, n.allianceId);
        if (owed != 0) _book(n.allianceId, nodeId, address(_escrow), owed);
        _dropNode(nodeId, n);
        if (owed != 0) _escrow.withdraw(nodeId);
    }

    /// @inheritdoc IAllianceSplits
    function checkNode(uint64 nodeId) external {
        NodeEntry memory n = _nodes[nodeId];
        // Exact zero / state checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (n.allianceId == 0) revert NodeNotContributed(nodeId);
        IProviderRegistry.NodeInfo memory info = _registry.nodeInfo(nodeId);
        bool paysUs = info.payee == address(this);
        if (paysUs && !info.removed && info.provider == n.member) revert NodeStillValid(nodeId);
        uint256 owed = paysUs ? _owedToBook(nodeId, n.allianceId) : 0;
        if (owed != 0) _book(n.allianceId, nodeId, address(_escrow), owed);
        _dropNode(nodeId, n);
        if (owed != 0) _escrow.withdraw(nodeId);
    }

    /// @inheritdoc IAllianceSplits
    function requestLeave(uint256 allianceId) external {
        Member storage m = _members[allianceId][msg.sender];
        if (m.status != MemberStatus.Active) revert InvalidMemberStatus(allianceId, msg.sender, m.status);
        uint256 leaveAt = block.timestamp + _alliances[allianceId].config.noticePeriod;
        m.status = MemberStatus.Leaving;
        m.leaveAt = uint32(leaveAt);
        emit LeaveRequested(allianceId, msg.sender, leaveAt);
    }

    /// @inheritdoc IAllianceSplits
    function leave(uint256 allianceId) external {
        Member storage m = _members[allianceId][msg.sender];
        MemberStatus status = m.status;
        if (status == MemberStatus.Leaving) {
            uint256 leaveAt = m.leaveAt;
            // slither-disable-next-line timestamp
            if (block.timestamp < leaveAt) revert NoticeNotElapsed(leaveAt);
        } else if (status != MemberStatus.Suspended) {
            revert InvalidMemberStatus(allianceId, msg.sender, status);
        }
        if (m.nodes != 0) revert NodesRemaining(m.nodes);
        // No nodes: units and weight are zero already; `owed` and the share snapshot stay claimable.
        m.status = MemberStatus.Left;
        m.leaveAt = 0;
        _alliances[allianceId].config.memberCount -= 1;
        emit MemberLeft(allianceId, msg.sender);
    }

    /// @inheritdoc IAllianceSplits
    function suspend(uint256 allianceId, address account, bytes32 reason) external onlyRole(OPERATOR_ROLE) {
        Member storage m = _members[allianceId][account];
        MemberStatus status = m.status;
        if (status != MemberStatus.Active && status != MemberStatus.Leaving) {
            revert InvalidMemberStatus(allianceId, account, status);
        }
        m.status = MemberStatus.Suspended;
        m.leaveAt = 0;
        emit MemberSuspended(allianceId, account, reason);
        _setWeight(allianceId, account, 0);
    }

    /// @inheritdoc IAllianceSplits
    function reinstate(uint256 allianceId, address account) external onlyRole(OPERATOR_ROLE) {
        Member storage m = _members[allianceId][account];
        if (m.status != MemberStatus.Suspended) revert InvalidMemberStatus(allianceId, account, m.status);
        m.status = MemberStatus.Active;
        emit MemberReinstated(allianceId, account);
        _setWeight(allianceId, account, m.units);
    }

    // ---- revenue --------------------------------------------------------------------------------------

    /// @inheritdoc IAllianceSplits
    function collect(uint64 nodeId) external returns (uint256 amount) {
        uint256 allianceId = _nodes[nodeId].allianceId;
        // Exact zero / state checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (allianceId == 0) revert NodeNotContributed(nodeId);
        amount = _escrow.nodeOwed(nodeId);
        // slither-disable-next-line incorrect-equality
        if (amount == 0) revert NothingToPay();
        _book(allianceId, nodeId, address(_escrow), amount);
        // Booked first (checks-effects-interactions). The immutable escrow transfers exactly `nodeOwed` to the
        // node's payee, this contract, or reverts (`NotPayee` when the payee moved): the booking is undone.
        _escrow.withdraw(nodeId);
    }

    /// @inheritdoc IAllianceSplits
    function distribute(uint256 allianceId, uint256 amount) external {
        if (amount == 0) revert NothingToPay();
        _book(allianceId, 0, msg.sender, amount);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IAllianceSplits
    function claim(uint256 allianceId) external returns (uint256 amount) {
        uint256 acc = _alliances[allianceId].pool.accPerShare;
        Share storage s = _shares[allianceId][msg.sender];
        uint256 snapshot = s.snapshot;
        Member storage m = _members[allianceId][msg.sender];
        uint256 owed = m.owed;
        // acc >= snapshot (the accumulator only grows); weight < 2**64 and the difference < 2**192.
        amount = owed + (uint256(s.weight) * (acc - snapshot)) / _SCALE;
        // Exact zero / state checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (amount == 0) revert NothingToPay();
        if (snapshot != acc) s.snapshot = uint192(acc);
        if (owed != 0) m.owed = 0;
        emit Claimed(allianceId, msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ---- views ----------------------------------------------------------------------------------------

    /// @inheritdoc IAllianceSplits
    function creditToken() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IAllianceSplits
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IAllianceSplits
    function escrow() external view returns (address) {
        return address(_escrow);
    }

    /// @inheritdoc IAllianceSplits
    function allianceCount() external view returns (uint256) {
        return _allianceCount;
    }

    /// @inheritdoc IAllianceSplits
    function allianceInfo(uint256 allianceId) external view returns (AllianceInfo memory) {
        Alliance storage a = _alliances[allianceId];
        Config memory c = a.config;
        Pool memory p = a.pool;
        return AllianceInfo({
            admin: c.admin,
            noticePeriod: c.noticePeriod,
            maxUnitsPerNode: c.maxUnitsPerNode,
            memberCount: c.memberCount,
            totalShares: p.totalShares,
            accPerShare: p.accPerShare,
            nameHash: a.nameHash,
            termsHash: a.termsHash
        });
    }

    /// @inheritdoc IAllianceSplits
    function memberInfo(uint256 allianceId, address account) external view returns (MemberInfo memory) {
        Member memory m = _members[allianceId][account];
        return MemberInfo({
            status: m.status,
            leaveAt: m.leaveAt,
            nodes: m.nodes,
            units: m.units,
            weight: _shares[allianceId][account].weight,
            claimable: _claimable(allianceId, account)
        });
    }

    /// @inheritdoc IAllianceSplits
    function claimable(uint256 allianceId, address account) external view returns (uint256) {
        return _claimable(allianceId, account);
    }

    /// @inheritdoc IAllianceSplits
    function nodeEntry(uint64 nodeId) external view returns (NodeEntry memory) {
        return _nodes[nodeId];
    }

    // ---- internals ------------------------------------------------------------------------------------

    function _claimable(uint256 allianceId, address account) private view returns (uint256) {
        Share memory s = _shares[allianceId][account];
        uint256 acc = _alliances[allianceId].pool.accPerShare;
        return _members[allianceId][account].owed + (uint256(s.weight) * (acc - s.snapshot)) / _SCALE;
    }

    /// @dev Settles `account`'s earnings at the current accumulator into `owed`, then sets its weight.
    function _setWeight(uint256 allianceId, address account, uint64 weight) private {
        Pool storage p = _alliances[allianceId].pool;
        Pool memory pool = p;
        Share storage s = _shares[allianceId][account];
        Share memory share = s;
        // Floor: the remainder stays in the contract as dust, never paid to the member.
        uint256 earned = (uint256(share.weight) * (pool.accPerShare - share.snapshot)) / _SCALE;
        if (earned != 0) {
            Member storage m = _members[allianceId][account];
            uint256 owed = m.owed + earned;
            if (owed > type(uint96).max) revert ValueTooLarge(owed, type(uint96).max);
            m.owed = uint96(owed);
        }
        // total - old weight >= 0 (the total is the sum of the weights); the sum of 64-bit units of at most
        // 2**32 nodes per member is checked by the uint64 arithmetic below.
        uint64 total = pool.totalShares - share.weight + weight;
        p.totalShares = total;
        s.weight = weight;
        s.snapshot = pool.accPerShare;
        emit WeightChanged(allianceId, account, weight, total);
    }

    /// @dev Books `amount` to the alliance's accumulator (rounded down: the remainder is dust).
    function _book(uint256 allianceId, uint64 nodeId, address from, uint256 amount) private {
        Pool storage p = _alliances[allianceId].pool;
        Pool memory pool = p;
        if (pool.totalShares == 0) revert NoShares(allianceId);
        uint256 acc = pool.accPerShare + (amount * _SCALE) / pool.totalShares;
        if (acc > type(uint192).max) revert ValueTooLarge(acc, type(uint192).max);
        p.accPerShare = uint192(acc);
        emit RevenueBooked(allianceId, nodeId, from, amount, acc);
    }

    /// @dev The node's unpaid escrow earnings to book before it leaves: zero when there are none, nobody holds
    /// shares, or the node no longer pays this contract (the escrow would pay its new payee).
    function _owedToBook(uint64 nodeId, uint256 allianceId) private view returns (uint256 owed) {
        owed = _escrow.nodeOwed(nodeId);
        // Exact zero checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (owed == 0 || _alliances[allianceId].pool.totalShares == 0) return 0;
        if (_registry.nodePayee(nodeId) != address(this)) return 0;
    }

    /// @dev Removes a node from its alliance; the member loses its units (weight too unless suspended).
    function _dropNode(uint64 nodeId, NodeEntry memory n) private {
        Member storage m = _members[n.allianceId][n.member];
        uint64 units = m.units - n.units;
        m.units = units;
        m.nodes -= 1;
        delete _nodes[nodeId];
        emit NodeWithdrawn(n.allianceId, n.member, nodeId, n.units);
        MemberStatus status = m.status;
        // slither-disable-next-line incorrect-equality
        if (status == MemberStatus.Active || status == MemberStatus.Leaving) {
            _setWeight(n.allianceId, n.member, units);
        }
    }
}
