// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";

/**
 * @title ProviderRegistry
 * @notice Providers lock credit collateral, operators approve or suspend them, providers manage nodes, payees
 * and maintenance windows, and the SLA oracle seizes collateral to the treasury.
 * @dev Reentrancy: checks-effects-interactions throughout (every token transfer is the last step) and the
 * only external contract called is the immutable credit token, which has no transfer hooks; no
 * ReentrancyGuard is used.
 */
contract ProviderRegistry is IProviderRegistry, AccessControl {
    using SafeERC20 for IERC20;

    /// @inheritdoc IProviderRegistry
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @inheritdoc IProviderRegistry
    bytes32 public constant SEIZER_ROLE = keccak256("SEIZER_ROLE");

    /// @dev Maintenance months are fixed 30-day periods from the Unix epoch.
    uint256 private constant _MONTH = 30 days;

    /// @dev Two slots per node: (provider | windowMonth | windowsInMonth | removed) and
    /// (payee | maintenanceStart | maintenanceEnd); the window is read and written as one slot.
    struct Node {
        address provider;
        uint32 windowMonth;
        uint8 windowsInMonth;
        bool removed;
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

    /**
     * @param token_ The credit token (collateral).
     * @param admin Receives `DEFAULT_ADMIN_ROLE`.
     * @param treasury_ Receives seized collateral.
     * @param config_ Initial limits.
     */
    constructor(IERC20 token_, address admin, address treasury_, RegistryConfig memory config_) {
        if (address(token_) == address(0) || admin == address(0) || treasury_ == address(0)) {
            revert ZeroAddress();
        }
        _token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _treasury = treasury_;
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
        p.exitRequestedAt = 0;
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
    }

    /// @inheritdoc IProviderRegistry
    function requestExit() external {
        ProviderInfo storage p = _providers[msg.sender];
        ProviderStatus status = p.status;
        if (status == ProviderStatus.None || status == ProviderStatus.Exiting) {
            revert InvalidProviderStatus(msg.sender, status);
        }
        p.status = ProviderStatus.Exiting;
        // uint32 seconds last until 2106.
        p.exitRequestedAt = uint32(block.timestamp);
        emit ExitRequested(msg.sender, block.timestamp + _config.exitCooldown);
    }

    /// @inheritdoc IProviderRegistry
    function withdrawCollateral() external {
        ProviderInfo storage p = _providers[msg.sender];
        if (p.status != ProviderStatus.Exiting) revert InvalidProviderStatus(msg.sender, p.status);
        uint256 availableAt = uint256(p.exitRequestedAt) + _config.exitCooldown;
        // Cooldown: the SLA oracle may still seize for breaches found late.
        // slither-disable-next-line timestamp
        if (block.timestamp < availableAt) revert ExitCooldownActive(msg.sender, availableAt);
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
        n.removed = true;
        emit NodeRemoved(nodeId);
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
        uint256 month = start / _MONTH;
        uint256 used = n.windowMonth == month ? n.windowsInMonth : 0;
        if (used >= cfg.maxWindowsPerMonth) revert MonthlyWindowLimitReached(nodeId, month);
        // month = start / 30 days < 2**32 since start is a uint32; used < maxWindowsPerMonth <= 255.
        n.windowMonth = uint32(month);
        n.windowsInMonth = uint8(used + 1);
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
        _config = config_;
        emit ConfigSet(config_);
    }

    /// @inheritdoc IProviderRegistry
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        _treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    // ---- views ----------------------------------------------------------------------------------------

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
            removed: n.removed,
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
        return provider != address(0) && !n.removed && _providers[provider].status == ProviderStatus.Approved;
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
        if (n.provider == address(0) || n.removed) revert UnknownNode(nodeId);
        if (n.provider != msg.sender) revert NotNodeProvider(nodeId, msg.sender);
    }
}
