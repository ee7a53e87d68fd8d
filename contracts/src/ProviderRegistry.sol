// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IEscrowHooks} from "./interfaces/IEscrowHooks.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";

/**
 * @title ProviderRegistry
 * @notice Providers lock credit collateral, operators approve or suspend them, providers manage nodes, payees
 * and maintenance windows, and the SLA oracle seizes collateral to the treasury.
 * @dev Reentrancy: checks-effects-interactions throughout (every token transfer is the last step) and the
 * only external contract called is the immutable credit token, which has no transfer hooks; no
 * ReentrancyGuard is used.
 */
contract ProviderRegistry is IProviderRegistry, AccessControlDefaultAdminRules {
    using SafeERC20 for IERC20;

    /// @inheritdoc IProviderRegistry
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @inheritdoc IProviderRegistry
    bytes32 public constant SEIZER_ROLE = keccak256("SEIZER_ROLE");

    /// @dev Delay of a default-admin transfer (two steps: begin, then accept after the delay; see
    /// {defaultAdminDelay}). Not a public getter: every external function costs the escrow's calls dispatch gas.
    uint48 private constant _ADMIN_TRANSFER_DELAY = 2 days;

    /// @dev Maintenance limits hold over any span of this length.
    uint256 private constant _SPAN = 30 days;
    /// @dev Window starts remembered per node (and the largest `maxWindowsPerMonth`).
    uint256 private constant _RECENT = 8;

    /// @dev Two slots per node: (provider | removedAt) and (payee | maintenanceStart | maintenanceEnd); the
    /// window is read and written as one slot.
    struct Node {
        address provider;
        uint32 removedAt;
        address payee;
        uint32 maintenanceStart;
        uint32 maintenanceEnd;
    }

    IERC20 private immutable _token;

    RegistryConfig private _config;
    address private _treasury;
    uint64 private _nodeCount;

    mapping(address provider => ProviderInfo) private _providers;
    mapping(uint64 nodeId => Node) private _nodes;
    mapping(bytes32 ref => bool used) private _seizeRefs;
    /// @dev The starts of a node's last 8 windows, 32 bits each, newest in the low bits.
    mapping(uint64 nodeId => uint256 starts) private _recentStarts;
    mapping(bytes32 ref => address provider) private _claims;
    address private _escrow;

    /**
     * @param token_ The credit token (collateral).
     * @param admin Receives `DEFAULT_ADMIN_ROLE`.
     * @param treasury_ Receives seized collateral.
     * @param config_ Initial limits.
     */
    constructor(IERC20 token_, address admin, address treasury_, RegistryConfig memory config_)
        AccessControlDefaultAdminRules(_ADMIN_TRANSFER_DELAY, admin)
    {
        if (address(token_) == address(0) || admin == address(0) || treasury_ == address(0)) {
            revert ZeroAddress();
        }
        _token = token_;
        _treasury = treasury_;
        _checkConfig(config_);
        _config = config_;
        emit TreasurySet(treasury_);
        emit ConfigSet(config_);
    }

    // ---- providers ------------------------------------------------------------------------------------

    /// @inheritdoc IProviderRegistry
    function register(uint256 collateral) public {
        ProviderInfo storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.None) revert InvalidProviderStatus(msg.sender, p.status);
        uint256 minimum = _config.minCollateral;
        if (collateral == 0) revert ZeroAmount();
        if (collateral < minimum) revert CollateralBelowMinimum(collateral, minimum);
        if (collateral > type(uint96).max) revert AmountTooLarge(collateral, type(uint96).max);
        p.collateral = uint96(collateral);
        p.status = ProviderStatus.Pending;
        emit ProviderRegistered(msg.sender, collateral);
        _token.safeTransferFrom(msg.sender, address(this), collateral);
    }

    /// @inheritdoc IProviderRegistry
    function registerWithPermit(uint256 collateral, uint256 deadline, uint8 v, bytes32 r, bytes32 s) external {
        // A front-runner may have used the permit already; the allowance it set is what matters, and
        // safeTransferFrom in register() reverts if it is missing.
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), collateral, deadline, v, r, s) {}
            catch {}
        register(collateral);
    }

    /// @inheritdoc IProviderRegistry
    function addCollateral(uint256 amount) external {
        ProviderInfo storage p = _providers[msg.sender];
        ProviderStatus status = p.status;
        if (status == ProviderStatus.None || status == ProviderStatus.Exiting) {
            revert InvalidProviderStatus(msg.sender, status);
        }
        if (amount == 0) revert ZeroAmount();
        uint256 total = uint256(p.collateral) + amount;
        if (total > type(uint96).max) revert AmountTooLarge(total, type(uint96).max);
        p.collateral = uint96(total);
        emit CollateralAdded(msg.sender, amount, total);
        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IProviderRegistry
    function approveProvider(address provider) external onlyRole(OPERATOR_ROLE) {
        ProviderInfo storage p = _providers[provider];
        ProviderStatus status = p.status;
        if (status != ProviderStatus.Pending && status != ProviderStatus.Suspended) {
            revert InvalidProviderStatus(provider, status);
        }
        p.status = ProviderStatus.Approved;
        // slither-disable-next-line incorrect-equality
        if (status == ProviderStatus.Suspended) {
            // Leases that lived through the suspension stay stopped at its start ({leaseAccrualEnd}).
            p.prevStoppedAt = p.stoppedAt;
            p.resumedAt = uint32(block.timestamp);
            p.stoppedAt = 0;
        }
        emit ProviderApproved(provider, msg.sender);
    }

    /// @inheritdoc IProviderRegistry
    function suspendProvider(address provider, bytes32 reason) external onlyRole(OPERATOR_ROLE) {
        ProviderInfo storage p = _providers[provider];
        ProviderStatus status = p.status;
        if (status != ProviderStatus.Pending && status != ProviderStatus.Approved) {
            revert InvalidProviderStatus(provider, status);
        }
        p.status = ProviderStatus.Suspended;
        emit ProviderSuspended(provider, msg.sender, reason);
        _stop(p, provider);
    }

    /// @inheritdoc IProviderRegistry
    function requestExit() external {
        ProviderInfo storage p = _providers[msg.sender];
        ProviderStatus status = p.status;
        if (status == ProviderStatus.None || status == ProviderStatus.Exiting) {
            revert InvalidProviderStatus(msg.sender, status);
        }
        p.status = ProviderStatus.Exiting;
        // Fixed now: a later change of exitCooldown does not move it. uint32 seconds last until 2106.
        uint256 availableAt = block.timestamp + _config.exitCooldown;
        p.exitAvailableAt = uint32(availableAt);
        emit ExitRequested(msg.sender, availableAt);
        // A suspended provider stopped already.
        // slither-disable-next-line incorrect-equality
        if (p.stoppedAt == 0) _stop(p, msg.sender);
    }

    /// @inheritdoc IProviderRegistry
    function withdrawCollateral() external {
        ProviderInfo storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.Exiting) revert InvalidProviderStatus(msg.sender, p.status);
        uint256 availableAt = p.exitAvailableAt;
        // Cooldown: the SLA oracle may still seize for breaches found late.
        // slither-disable-next-line timestamp
        if (block.timestamp < availableAt) revert ExitCooldownActive(msg.sender, availableAt);
        if (p.openClaims != 0) revert OpenClaims(msg.sender, p.openClaims);
        if (p.busyNodes != 0) revert OpenLeases(msg.sender, p.busyNodes);
        uint256 amount = p.collateral;
        delete _providers[msg.sender];
        emit CollateralWithdrawn(msg.sender, amount);
        if (amount != 0) _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IProviderRegistry
    function seize(address provider, uint256 amount, bytes32 ref, bytes32 evidenceHash)
        external
        onlyRole(SEIZER_ROLE)
    {
        if (ref == bytes32(0)) revert ZeroRef();
        if (_seizeRefs[ref]) revert RefAlreadyUsed(ref);
        if (amount == 0) revert ZeroAmount();
        ProviderInfo storage p = _providers[provider];
        uint256 collateral = p.collateral;
        if (amount > collateral) revert SeizeExceedsCollateral(provider, amount, collateral);
        _seizeRefs[ref] = true;
        // Seizing with a filed claim's ref resolves it.
        if (_claims[ref] == provider) {
            delete _claims[ref];
            p.openClaims -= 1;
            emit ClaimResolved(provider, ref);
        }
        // amount <= collateral < 2**96 (checked above), so the difference fits and cannot underflow.
        unchecked {
            p.collateral = uint96(collateral - amount);
        }
        address treasury_ = _treasury;
        emit CollateralSeized(provider, amount, ref, evidenceHash, treasury_);
        _token.safeTransfer(treasury_, amount);
    }

    // ---- nodes ----------------------------------------------------------------------------------------

    /// @inheritdoc IProviderRegistry
    function addNode(address payee) external returns (uint64 nodeId) {
        ProviderStatus status = _providers[msg.sender].status;
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (status == ProviderStatus.None || status == ProviderStatus.Exiting) {
            revert InvalidProviderStatus(msg.sender, status);
        }
        if (payee == address(0)) payee = msg.sender;
        nodeId = _nodeCount + 1;
        _nodeCount = nodeId;
        Node storage n = _nodes[nodeId];
        n.provider = msg.sender;
        n.payee = payee;
        emit NodeAdded(nodeId, msg.sender, payee);
    }

    /// @inheritdoc IProviderRegistry
    function setNodePayee(uint64 nodeId, address payee) external {
        Node storage n = _ownedNode(nodeId);
        if (payee == address(0)) revert ZeroAddress();
        n.payee = payee;
        emit NodePayeeSet(nodeId, payee);
    }

    /// @inheritdoc IProviderRegistry
    function removeNode(uint64 nodeId) external {
        Node storage n = _ownedNode(nodeId);
        n.removedAt = uint32(block.timestamp);
        emit NodeRemoved(nodeId);
        _notifyEscrow();
    }

    /// @inheritdoc IProviderRegistry
    function scheduleMaintenance(uint64 nodeId, uint32 start, uint32 end) external {
        Node storage n = _ownedNode(nodeId);
        RegistryConfig memory cfg = _config;
        uint256 earliest = block.timestamp + cfg.minNotice;
        // Notice periods are minutes to days; miner timestamp drift (seconds) does not matter.
        // slither-disable-next-line timestamp
        if (start < earliest) revert NoticeTooShort(start, earliest);
        if (end <= start || end - start > cfg.maxWindowLength) revert InvalidWindow(start, end);
        // slither-disable-next-line timestamp
        if (n.maintenanceEnd > block.timestamp) revert MaintenancePending(nodeId, n.maintenanceEnd);
        uint256 starts = _recentStarts[nodeId];
        // Recorded starts within 30 days either side of `start` (cancelled ones included): with windows
        // scheduled in time order this is exactly the count of the 30-day span ending at `start`.
        uint256 near = 0;
        for (uint256 i = 0; i < _RECENT; ++i) {
            uint256 other = (starts >> (32 * i)) & type(uint32).max;
            // slither-disable-next-line timestamp
            if (other != 0 && other + _SPAN > start && start + _SPAN > other) ++near;
        }
        if (near >= cfg.maxWindowsPerMonth) revert MonthlyWindowLimitReached(nodeId, start);
        _recentStarts[nodeId] = (starts << 32) | start;
        n.maintenanceStart = start;
        n.maintenanceEnd = end;
        emit MaintenanceScheduled(nodeId, start, end);
    }

    /// @inheritdoc IProviderRegistry
    function cancelMaintenance(uint64 nodeId) external {
        Node storage n = _ownedNode(nodeId);
        // slither-disable-next-line timestamp
        if (n.maintenanceEnd == 0 || n.maintenanceStart <= block.timestamp) revert NoCancellableWindow(nodeId);
        n.maintenanceStart = 0;
        n.maintenanceEnd = 0;
        emit MaintenanceCancelled(nodeId);
    }

    // ---- admin ----------------------------------------------------------------------------------------

    /// @inheritdoc IProviderRegistry
    function setConfig(RegistryConfig calldata config_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkConfig(config_);
        _config = config_;
        emit ConfigSet(config_);
    }

    /// @inheritdoc IProviderRegistry
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        _treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    /// @inheritdoc IProviderRegistry
    // Zero is allowed on purpose (detach the escrow).
    // slither-disable-next-line missing-zero-check
    function setEscrow(address escrow_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _escrow = escrow_;
        emit EscrowSet(escrow_);
    }

    /// @inheritdoc IProviderRegistry
    function markNodeBusy(uint64 nodeId, bool busy) external {
        if (msg.sender != _escrow) revert NotEscrow();
        ProviderInfo storage p = _providers[_nodes[nodeId].provider];
        if (busy) p.busyNodes += 1;
        else p.busyNodes -= 1;
    }

    // ---- SLA claims -----------------------------------------------------------------------------------

    /// @inheritdoc IProviderRegistry
    function raiseClaim(address provider, bytes32 ref) external onlyRole(SEIZER_ROLE) {
        if (ref == bytes32(0)) revert ZeroRef();
        if (_claims[ref] != address(0) || _seizeRefs[ref]) revert InvalidClaim(ref);
        ProviderInfo storage p = _providers[provider];
        if (p.status == ProviderStatus.None) revert InvalidProviderStatus(provider, p.status);
        _claims[ref] = provider;
        p.openClaims += 1;
        emit ClaimFiled(provider, ref);
    }

    /// @inheritdoc IProviderRegistry
    function dismissClaim(bytes32 ref) external onlyRole(SEIZER_ROLE) {
        address provider = _claims[ref];
        if (provider == address(0)) revert InvalidClaim(ref);
        delete _claims[ref];
        _providers[provider].openClaims -= 1;
        emit ClaimResolved(provider, ref);
    }

    // ---- views ----------------------------------------------------------------------------------------

    /// @inheritdoc IProviderRegistry
    function escrow() external view returns (address) {
        return _escrow;
    }

    /// @inheritdoc IProviderRegistry
    function leaseAccrualEnd(uint64 nodeId, uint256 since) external view returns (uint256 end) {
        Node storage n = _nodes[nodeId];
        end = type(uint256).max;
        uint256 removedAt = n.removedAt;
        if (removedAt != 0) end = removedAt;
        ProviderInfo storage p = _providers[n.provider];
        uint256 stoppedAt = p.stoppedAt;
        // slither-disable-next-line timestamp
        if (stoppedAt != 0 && stoppedAt < end) end = stoppedAt;
        // Settled before the last re-approval: stopped by the suspension it ended (or earlier, see NatSpec).
        // slither-disable-next-line timestamp
        if (since < p.resumedAt) {
            uint256 prev = p.prevStoppedAt > since ? p.prevStoppedAt : since;
            if (prev < end) end = prev;
        }
    }

    /// @inheritdoc IProviderRegistry
    function creditToken() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IProviderRegistry
    function config() external view returns (RegistryConfig memory) {
        return _config;
    }

    /// @inheritdoc IProviderRegistry
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IProviderRegistry
    function providerInfo(address provider) external view returns (ProviderInfo memory) {
        return _providers[provider];
    }

    /// @inheritdoc IProviderRegistry
    function nodeInfo(uint64 nodeId) external view returns (NodeInfo memory) {
        Node storage n = _nodes[nodeId];
        return NodeInfo({
            provider: n.provider,
            payee: n.payee,
            removed: n.removedAt != 0,
            removedAt: n.removedAt,
            maintenanceStart: n.maintenanceStart,
            maintenanceEnd: n.maintenanceEnd
        });
    }

    /// @inheritdoc IProviderRegistry
    function nodeCount() external view returns (uint64) {
        return _nodeCount;
    }

    /// @inheritdoc IProviderRegistry
    function isNodeActive(uint64 nodeId) external view returns (bool) {
        Node storage n = _nodes[nodeId];
        address provider = n.provider;
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        return provider != address(0) && n.removedAt == 0 && _providers[provider].status == ProviderStatus.Approved;
    }

    /// @inheritdoc IProviderRegistry
    function nodePayee(uint64 nodeId) external view returns (address) {
        return _nodes[nodeId].payee;
    }

    /// @inheritdoc IProviderRegistry
    function nodeProvider(uint64 nodeId) external view returns (address) {
        return _nodes[nodeId].provider;
    }

    /// @inheritdoc IProviderRegistry
    function inMaintenance(uint64 nodeId) external view returns (bool) {
        Node storage n = _nodes[nodeId];
        // slither-disable-next-line timestamp
        return n.maintenanceStart <= block.timestamp && block.timestamp < n.maintenanceEnd;
    }

    /// @inheritdoc IProviderRegistry
    function seizeRefUsed(bytes32 ref) external view returns (bool) {
        return _seizeRefs[ref];
    }

    /// @dev The live node `nodeId`, checked to belong to the caller.
    function _ownedNode(uint64 nodeId) private view returns (Node storage n) {
        n = _nodes[nodeId];
        if (n.provider == address(0) || n.removedAt != 0) revert UnknownNode(nodeId);
        if (n.provider != msg.sender) revert NotNodeProvider(nodeId, msg.sender);
    }

    /// @dev Records that `provider` stopped being Approved now and tells the escrow.
    function _stop(ProviderInfo storage p, address provider) private {
        p.stoppedAt = uint32(block.timestamp);
        emit ProviderDeactivated(provider, block.timestamp);
        _notifyEscrow();
    }

    /// @dev Tells the escrow (if set) that leases may have stopped now.
    function _notifyEscrow() private {
        address escrow_ = _escrow;
        if (escrow_ != address(0)) IEscrowHooks(escrow_).nodesStopped();
    }

    function _checkConfig(RegistryConfig memory config_) private pure {
        if (config_.maxWindowsPerMonth == 0 || config_.maxWindowsPerMonth > _RECENT) revert InvalidConfig();
    }
}
