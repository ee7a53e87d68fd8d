// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IDeploymentEscrow} from "./interfaces/IDeploymentEscrow.sol";
import {IDiscountOracle} from "./interfaces/IDiscountOracle.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";

/**
 * @title DeploymentEscrow
 * @notice One escrow for every lease: per-second payment from a deposit to a node, settled lazily.
 * @dev Storage per lease is ONE packed word: balance (uint96, up to 7.9e22 credits) | rate (uint64, up to 1.8e13
 * credits per second) | settledAt (uint32 seconds, until 2106) | nodeId (uint64). The payer is bound into the
 * lease id, so it takes no storage. `rate * elapsed < 2**64 * 2**32 = 2**96`, so accrual never overflows
 * and needs no mulDiv; fee products are below 2**96 * 10**4 < 2**110.
 *
 * Rounding: the fee is rounded UP (protocol's favour, at most one unit per settlement out of the node's
 * share), the keeper tip DOWN, and a discounted rate UP (`ceil(rate * (10_000 - d) / 10_000)`).
 *
 * Reentrancy: checks-effects-interactions. Every token transfer comes after all state changes of its
 * call; the credit token is immutable and has no transfer hooks; the registry and the discount oracle are
 * only read (view calls). No ReentrancyGuard.
 *
 * Meta-transactions ({openBySig}, {topUpBySig}, {closeBySig}): anyone (the engine's gas-paying signer)
 * submits a request the payer signed as EIP-712 typed data (domain "CloudmarketEscrow", version "1", this
 * chain and contract; see {eip712Domain}). The payer's signature is the only authority: EOAs by ECDSA,
 * contract wallets by EIP-1271 (a staticcall). Each request carries the payer's next nonce (one sequence per
 * payer shared by the three kinds, see {nonces}) and a deadline.
 */
contract DeploymentEscrow is IDeploymentEscrow, AccessControl, EIP712, Nonces {
    using SafeERC20 for IERC20;

    /// @inheritdoc IDeploymentEscrow
    bytes32 public constant TOPUP_ROLE = keccak256("TOPUP_ROLE");
    /// @notice Highest platform fee the admin can set, in basis points (20%).
    uint256 public constant MAX_FEE_BPS = 2_000;
    /// @notice Highest discount taken from the oracle, in basis points (larger values are capped).
    uint256 public constant MAX_DISCOUNT_BPS = 5_000;

    uint256 private constant _BPS = 10_000;

    bytes32 private constant _OPEN_TYPEHASH = keccak256(
        "OpenRequest(address payer,uint64 nodeId,uint256 ratePerSecond,uint256 deposit,bytes32 specHash,"
        "uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _TOPUP_TYPEHASH =
        keccak256("TopUpRequest(address payer,uint256 leaseId,uint256 amount,uint256 nonce,uint256 deadline)");
    bytes32 private constant _CLOSE_TYPEHASH =
        keccak256("CloseRequest(address payer,uint256 leaseId,uint256 nonce,uint256 deadline)");

    // One packed word per lease, from the low bits: balance (96) | rate (64) | settledAt (32) | nodeId (64).
    // Open iff rate != 0 (rates are positive at open; closing zeroes it). Packed by hand so the hot paths
    // (settle, settleMany) do one SLOAD and one SSTORE per lease without memory structs.
    uint256 private constant _MASK96 = (1 << 96) - 1;
    uint256 private constant _MASK64 = (1 << 64) - 1;
    uint256 private constant _MASK32 = (1 << 32) - 1;
    uint256 private constant _RATE_SHIFT = 96;
    uint256 private constant _SETTLED_SHIFT = 160;
    uint256 private constant _NODE_SHIFT = 192;

    /// @dev One slot, read by every settlement: the fee accumulator and the parameters next to it.
    struct FeeState {
        uint128 feesOwed;
        uint16 feeBps;
        uint16 keeperShareBps;
        uint64 maxTip;
    }

    /// @dev One slot, read by every open.
    struct OpenState {
        address discountOracle;
        uint64 leaseCount;
    }

    /// @dev One slot per payer.
    struct AutoTopUp {
        uint96 maxPerDay;
        uint32 day;
        uint96 usedToday;
    }

    IERC20 private immutable _token;
    IProviderRegistry private immutable _registry;

    FeeState private _fees;
    OpenState private _openState;
    address private _treasury;

    mapping(uint256 leaseId => uint256 packed) private _leases;
    mapping(uint64 nodeId => uint256 owed) private _nodeOwed;
    mapping(address keeper => uint256 owed) private _tips;
    mapping(address payer => AutoTopUp) private _autoTopUps;

    /**
     * @param token_ The credit token.
     * @param registry_ The provider registry.
     * @param admin Receives `DEFAULT_ADMIN_ROLE`.
     * @param treasury_ Receives platform fees.
     * @param feeBps Platform fee in basis points (<= MAX_FEE_BPS).
     * @param keeperShareBps Keeper share of the fee in basis points.
     * @param maxTip Largest tip per settlement call.
     */
    constructor(
        IERC20 token_,
        IProviderRegistry registry_,
        address admin,
        address treasury_,
        uint16 feeBps,
        uint16 keeperShareBps,
        uint64 maxTip
    ) EIP712("CloudmarketEscrow", "1") {
        if (
            address(token_) == address(0) || address(registry_) == address(0) || admin == address(0)
                || treasury_ == address(0)
        ) revert ZeroAddress();
        _token = token_;
        _registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _treasury = treasury_;
        emit TreasurySet(treasury_);
        _setFeeParams(feeBps, keeperShareBps, maxTip);
    }

    // ---- leases ---------------------------------------------------------------------------------------

    /// @inheritdoc IDeploymentEscrow
    function open(uint64 nodeId, uint256 ratePerSecond, uint256 deposit, bytes32 specHash)
        external
        returns (uint256 leaseId)
    {
        return _open(msg.sender, nodeId, ratePerSecond, deposit, specHash);
    }

    /// @inheritdoc IDeploymentEscrow
    function openWithPermit(
        uint64 nodeId,
        uint256 ratePerSecond,
        uint256 deposit,
        bytes32 specHash,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 leaseId) {
        // A front-runner may have used the permit; the allowance it set is what the pull needs.
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), deposit, deadline, v, r, s) {}
            catch {}
        return _open(msg.sender, nodeId, ratePerSecond, deposit, specHash);
    }

    /// @inheritdoc IDeploymentEscrow
    function openBySig(OpenRequest calldata req, Permit calldata permit, bytes calldata sig)
        external
        returns (uint256 leaseId)
    {
        _useSignature(req.payer, digestOpenRequest(req), req.nonce, req.deadline, sig);
        _applyPermit(req.payer, req.deposit, permit);
        return _open(req.payer, req.nodeId, req.ratePerSecond, req.deposit, req.specHash);
    }

    /// @inheritdoc IDeploymentEscrow
    function topUp(uint256 leaseId, uint256 amount) external {
        _topUp(leaseId, amount, msg.sender);
    }

    /// @inheritdoc IDeploymentEscrow
    function topUpBySig(TopUpRequest calldata req, Permit calldata permit, bytes calldata sig) external {
        _useSignature(req.payer, digestTopUpRequest(req), req.nonce, req.deadline, sig);
        _applyPermit(req.payer, req.amount, permit);
        _topUp(req.leaseId, req.amount, req.payer);
    }

    /// @inheritdoc IDeploymentEscrow
    function settle(uint256 leaseId) external {
        uint256 word = _leases[leaseId];
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (_rate(word) == 0) revert LeaseNotOpen(leaseId);
        FeeState memory fees = _fees;
        uint256 tip;
        (word, tip) = _accrue(leaseId, word, fees, true, msg.sender);
        _fees.feesOwed = fees.feesOwed;
        _leases[leaseId] = word;
        if (tip != 0) _tips[msg.sender] += tip;
    }

    /// @inheritdoc IDeploymentEscrow
    function settleMany(uint256[] calldata leaseIds) external {
        FeeState memory fees = _fees;
        uint256 tips = 0;
        uint256 count = leaseIds.length;
        for (uint256 i = 0; i < count; ++i) {
            uint256 leaseId = leaseIds[i];
            uint256 word = _leases[leaseId];
            // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
            // slither-disable-next-line incorrect-equality
            if (_rate(word) == 0) continue;
            uint256 tip;
            (word, tip) = _accrue(leaseId, word, fees, true, msg.sender);
            _leases[leaseId] = word;
            tips += tip;
        }
        _fees.feesOwed = fees.feesOwed;
        if (tips != 0) _tips[msg.sender] += tips;
    }

    /// @inheritdoc IDeploymentEscrow
    function close(uint256 leaseId) external {
        uint256 word = _leases[leaseId];
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (_rate(word) == 0) revert LeaseNotOpen(leaseId);
        address payer = _payerOf(leaseId);
        if (msg.sender != payer && msg.sender != _registry.nodeProvider(_nodeId(word))) {
            revert NotLeaseParty(leaseId, msg.sender);
        }
        _close(leaseId, word, payer, msg.sender);
    }

    /// @inheritdoc IDeploymentEscrow
    function closeBySig(CloseRequest calldata req, bytes calldata sig) external {
        _useSignature(req.payer, digestCloseRequest(req), req.nonce, req.deadline, sig);
        uint256 leaseId = req.leaseId;
        uint256 word = _leases[leaseId];
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (_rate(word) == 0) revert LeaseNotOpen(leaseId);
        // Only the lease's own payer may close it by signature (the provider closes directly).
        if (req.payer != _payerOf(leaseId)) revert NotLeaseParty(leaseId, req.payer);
        _close(leaseId, word, req.payer, req.payer);
    }

    /// @inheritdoc IDeploymentEscrow
    function withdraw(uint64 nodeId) external {
        address payee = _registry.nodePayee(nodeId);
        if (msg.sender != payee) revert NotPayee(nodeId, msg.sender, payee);
        uint256 amount = _nodeOwed[nodeId];
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (amount == 0) revert NothingToWithdraw();
        _nodeOwed[nodeId] = 0;
        emit EarningsWithdrawn(nodeId, payee, amount);
        _token.safeTransfer(payee, amount);
    }

    /// @inheritdoc IDeploymentEscrow
    function withdrawTips() external {
        uint256 amount = _tips[msg.sender];
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (amount == 0) revert NothingToWithdraw();
        _tips[msg.sender] = 0;
        emit TipsWithdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IDeploymentEscrow
    function withdrawFees() external {
        uint256 amount = _fees.feesOwed;
        if (amount == 0) revert NothingToWithdraw();
        _fees.feesOwed = 0;
        address treasury_ = _treasury;
        emit FeesWithdrawn(treasury_, amount);
        _token.safeTransfer(treasury_, amount);
    }

    /// @inheritdoc IDeploymentEscrow
    function setAutoTopUp(uint256 maxPerDay) external {
        if (maxPerDay > type(uint96).max) revert AmountTooLarge(maxPerDay, type(uint96).max);
        _autoTopUps[msg.sender].maxPerDay = uint96(maxPerDay);
        emit AutoTopUpSet(msg.sender, maxPerDay);
    }

    /// @inheritdoc IDeploymentEscrow
    function autoTopUp(uint256 leaseId, uint256 amount) external onlyRole(TOPUP_ROLE) {
        address payer = _payerOf(leaseId);
        AutoTopUp storage a = _autoTopUps[payer];
        // UTC calendar day; a timestamp drift of seconds only matters at midnight and never lifts the cap
        // beyond one day's allowance per day index.
        uint256 day = block.timestamp / 1 days;
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        uint256 used = a.day == day ? a.usedToday : 0;
        uint256 cap = a.maxPerDay;
        uint256 remaining = cap > used ? cap - used : 0;
        if (amount > remaining) revert AutoTopUpExceeded(payer, amount, remaining);
        // used + amount <= cap < 2**96; day < 2**32 until the year 11 million.
        uint256 usedNow = used + amount;
        a.day = uint32(day);
        a.usedToday = uint96(usedNow);
        _topUp(leaseId, amount, payer);
        emit AutoToppedUp(leaseId, payer, amount, usedNow);
    }

    // ---- admin ----------------------------------------------------------------------------------------

    /// @inheritdoc IDeploymentEscrow
    function setFeeParams(uint16 feeBps, uint16 keeperShareBps, uint64 maxTip)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setFeeParams(feeBps, keeperShareBps, maxTip);
    }

    /// @inheritdoc IDeploymentEscrow
    function setDiscountOracle(address oracle) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _openState.discountOracle = oracle;
        emit DiscountOracleSet(oracle);
    }

    /// @inheritdoc IDeploymentEscrow
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        _treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    // ---- views ----------------------------------------------------------------------------------------

    /// @inheritdoc IDeploymentEscrow
    function lease(uint256 leaseId) external view returns (LeaseView memory) {
        uint256 word = _leases[leaseId];
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        return LeaseView({
            payer: word == 0 ? address(0) : _payerOf(leaseId),
            nodeId: _nodeId(word),
            balance: word & _MASK96,
            ratePerSecond: _rate(word),
            settledAt: (word >> _SETTLED_SHIFT) & _MASK32,
            open: _rate(word) != 0
        });
    }

    /// @inheritdoc IDeploymentEscrow
    function dueNow(uint256 leaseId) external view returns (uint256) {
        uint256 word = _leases[leaseId];
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (word == 0) return 0;
        return Math.min(word & _MASK96, _rate(word) * (block.timestamp - ((word >> _SETTLED_SHIFT) & _MASK32)));
    }

    /// @inheritdoc IDeploymentEscrow
    function payerOf(uint256 leaseId) external pure returns (address) {
        return _payerOf(leaseId);
    }

    /// @inheritdoc IDeploymentEscrow
    function nodeOwed(uint64 nodeId) external view returns (uint256) {
        return _nodeOwed[nodeId];
    }

    /// @inheritdoc IDeploymentEscrow
    function tipsOwed(address keeper) external view returns (uint256) {
        return _tips[keeper];
    }

    /// @inheritdoc IDeploymentEscrow
    function feesOwed() external view returns (uint256) {
        return _fees.feesOwed;
    }

    /// @inheritdoc IDeploymentEscrow
    function feeParams() external view returns (uint256 feeBps, uint256 keeperShareBps, uint256 maxTip) {
        FeeState memory fees = _fees;
        return (fees.feeBps, fees.keeperShareBps, fees.maxTip);
    }

    /// @inheritdoc IDeploymentEscrow
    function autoTopUpOf(address payer) external view returns (uint256 maxPerDay, uint256 day, uint256 usedToday) {
        AutoTopUp memory a = _autoTopUps[payer];
        return (a.maxPerDay, a.day, a.usedToday);
    }

    /// @inheritdoc IDeploymentEscrow
    function leaseCount() external view returns (uint256) {
        return _openState.leaseCount;
    }

    /// @inheritdoc IDeploymentEscrow
    function discountOracle() external view returns (address) {
        return _openState.discountOracle;
    }

    /// @inheritdoc IDeploymentEscrow
    function creditToken() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IDeploymentEscrow
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IDeploymentEscrow
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IDeploymentEscrow
    function nonces(address owner) public view override(IDeploymentEscrow, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @inheritdoc IDeploymentEscrow
    function digestOpenRequest(OpenRequest calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    _OPEN_TYPEHASH,
                    req.payer,
                    req.nodeId,
                    req.ratePerSecond,
                    req.deposit,
                    req.specHash,
                    req.nonce,
                    req.deadline
                )
            )
        );
    }

    /// @inheritdoc IDeploymentEscrow
    function digestTopUpRequest(TopUpRequest calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(_TOPUP_TYPEHASH, req.payer, req.leaseId, req.amount, req.nonce, req.deadline))
        );
    }

    /// @inheritdoc IDeploymentEscrow
    function digestCloseRequest(CloseRequest calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_CLOSE_TYPEHASH, req.payer, req.leaseId, req.nonce, req.deadline)));
    }

    // ---- internals ------------------------------------------------------------------------------------

    /// @dev {open} for `payer`, whose credit is pulled and whom the lease id binds.
    function _open(address payer, uint64 nodeId, uint256 ratePerSecond, uint256 deposit, bytes32 specHash)
        private
        returns (uint256 leaseId)
    {
        if (ratePerSecond == 0) revert ZeroRate();
        if (deposit == 0) revert ZeroAmount();
        if (deposit > type(uint96).max) revert AmountTooLarge(deposit, type(uint96).max);
        if (!_registry.isNodeActive(nodeId)) revert NodeNotActive(nodeId);
        OpenState memory state = _openState;
        uint256 discount = 0;
        uint256 rate = ratePerSecond;
        if (state.discountOracle != address(0)) {
            discount = Math.min(IDiscountOracle(state.discountOracle).discountBps(payer), MAX_DISCOUNT_BPS);
            // Rounded up so a discount never turns a positive rate into zero; 10_000 - discount >= 5_000.
            rate = Math.mulDiv(ratePerSecond, _BPS - discount, _BPS, Math.Rounding.Ceil);
        }
        if (rate > type(uint64).max) revert RateTooLarge(rate, type(uint64).max);
        uint64 sequence = state.leaseCount + 1;
        _openState.leaseCount = sequence;
        leaseId = (uint256(uint160(payer)) << 64) | sequence;
        // block.timestamp fits uint32 until 2106.
        _leases[leaseId] = _pack(deposit, rate, block.timestamp, nodeId);
        emit LeaseOpened(leaseId, payer, nodeId, rate, deposit, specHash, discount);
        _token.safeTransferFrom(payer, address(this), deposit);
    }


    /// @dev Settles the open lease `word` of `payer`, zeroes it and refunds the rest to `payer`; `closer` is
    /// reported in {LeaseClosed}.
    function _close(uint256 leaseId, uint256 word, address payer, address closer) private {
        FeeState memory fees = _fees;
        (word,) = _accrue(leaseId, word, fees, false, closer);
        _fees.feesOwed = fees.feesOwed;
        uint256 refund = word & _MASK96;
        if (_rate(word) != 0) {
            // Not emptied by the settlement above (which would have closed it already): zero balance and
            // rate, keep settledAt and nodeId.
            word = _pack(0, 0, (word >> _SETTLED_SHIFT) & _MASK32, _nodeId(word));
            emit LeaseClosed(leaseId, closer, refund);
        }
        _leases[leaseId] = word;
        if (refund != 0) _token.safeTransfer(payer, refund);
    }

    /**
     * @dev Checks a signed request of `payer`: not past `deadline`, `nonce` is the payer's next one (then
     * used), and `sig` signs the EIP-712 `digest` (ECDSA for accounts without code, EIP-1271
     * otherwise; the wallet is only staticcalled).
     */
    function _useSignature(address payer, bytes32 digest, uint256 nonce, uint256 deadline, bytes calldata sig)
        private
    {
        // The payer chose the deadline; a drift of seconds moves it by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) revert ExpiredSignature(deadline);
        _useCheckedNonce(payer, nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(payer, digest, sig)) revert InvalidSigner(payer);
    }

    /**
     * @dev Applies the payer's EIP-2612 permit for this escrow, unless `permit.value` is zero (use the
     * allowance as is). A failing permit (typically one a front-runner already submitted) is tolerated when
     * the allowance covers `amount`.
     */
    function _applyPermit(address payer, uint256 amount, Permit calldata permit) private {
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (permit.value == 0) return;
        try IERC20Permit(address(_token)).permit(
            payer, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {
            uint256 allowance = _token.allowance(payer, address(this));
            if (allowance < amount) revert PermitFailed(payer, allowance, amount);
        }
    }

    /// @dev Adds `amount` pulled from `from` to an open lease that has not run dry.
    function _topUp(uint256 leaseId, uint256 amount, address from) private {
        if (amount == 0) revert ZeroAmount();
        uint256 word = _leases[leaseId];
        uint256 rate = _rate(word);
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (rate == 0) revert LeaseNotOpen(leaseId);
        uint256 balance = word & _MASK96;
        // rate < 2**64 and elapsed < 2**32, so the product stays below 2**96.
        // Timestamps decide depletion by design; a drift of seconds moves it by seconds.
        // slither-disable-next-line timestamp
        if (rate * (block.timestamp - ((word >> _SETTLED_SHIFT) & _MASK32)) >= balance) {
            revert LeaseDepleted(leaseId);
        }
        uint256 newBalance = balance + amount;
        if (newBalance > type(uint96).max) revert AmountTooLarge(newBalance, type(uint96).max);
        // Replace the balance bits only.
        _leases[leaseId] = (word & ~_MASK96) | newBalance;
        emit LeaseToppedUp(leaseId, from, amount, newBalance);
        _token.safeTransferFrom(from, address(this), amount);
    }

    /**
     * @dev Settles the packed lease `word` up to now: moves what is due to the node and to the fee
     * accumulator in `fees` (memory), closes the lease when it empties, and returns the new word and the
     * keeper tip (zero unless `payTip`); `closer` is reported if it closes. The caller writes the word, `fees.feesOwed` and the tip to storage.
     */
    function _accrue(uint256 leaseId, uint256 word, FeeState memory fees, bool payTip, address closer)
        private
        returns (uint256 newWord, uint256 tip)
    {
        uint256 balance = word & _MASK96;
        uint256 rate = _rate(word);
        uint64 nodeId = _nodeId(word);
        uint256 due;
        // rate < 2**64 and elapsed < 2**32 (settledAt <= now, both uint32 seconds): the product is below
        // 2**96 and cannot overflow.
        unchecked {
            due = rate * (block.timestamp - ((word >> _SETTLED_SHIFT) & _MASK32));
        }
        if (due > balance) due = balance;
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (due == 0) return (word, 0);
        uint256 fee;
        // due < 2**96 and feeBps, keeperShareBps < 2**16: products stay below 2**112; tip <= fee <= due
        // (ceil(due * feeBps / 10_000) <= due since feeBps <= 10_000) and due <= balance.
        unchecked {
            // Intended: the tip is a share of the fee as rounded up; the later division rounds the tip down.
            // slither-disable-next-line divide-before-multiply
            fee = (due * fees.feeBps + _BPS - 1) / _BPS;
            if (payTip) tip = Math.min((fee * fees.keeperShareBps) / _BPS, fees.maxTip);
            balance -= due;
        }
        _nodeOwed[nodeId] += due - fee;
        // Fees owed stay below the credit held here, far below 2**128.
        fees.feesOwed += uint128(fee - tip);
        emit LeaseSettled(leaseId, due, balance);
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (balance == 0) rate = 0;
        newWord = _pack(balance, rate, block.timestamp, nodeId);
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (balance == 0) emit LeaseClosed(leaseId, closer, 0);
    }

    function _setFeeParams(uint16 feeBps, uint16 keeperShareBps, uint64 maxTip) private {
        if (feeBps > MAX_FEE_BPS) revert InvalidBps(feeBps, MAX_FEE_BPS);
        if (keeperShareBps > _BPS) revert InvalidBps(keeperShareBps, _BPS);
        FeeState storage fees = _fees;
        fees.feeBps = feeBps;
        fees.keeperShareBps = keeperShareBps;
        fees.maxTip = maxTip;
        emit FeeParamsSet(feeBps, keeperShareBps, maxTip);
    }

    /// @dev Packs a lease word; callers guarantee balance < 2**96, rate < 2**64, settledAt < 2**32.
    function _pack(uint256 balance, uint256 rate, uint256 settledAt, uint64 nodeId) private pure returns (uint256) {
        return balance | (rate << _RATE_SHIFT) | (settledAt << _SETTLED_SHIFT) | (uint256(nodeId) << _NODE_SHIFT);
    }

    function _rate(uint256 word) private pure returns (uint256) {
        return (word >> _RATE_SHIFT) & _MASK64;
    }

    function _nodeId(uint256 word) private pure returns (uint64) {
        return uint64(word >> _NODE_SHIFT);
    }

    function _payerOf(uint256 leaseId) private pure returns (address) {
        return address(uint160(leaseId >> 64));
    }
}
