// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IDeploymentEscrow} from "./interfaces/IDeploymentEscrow.sol";
import {IEscrowHooks} from "./interfaces/IEscrowHooks.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";

/**
 * @title DeploymentEscrow
 * @notice One escrow for every lease: per-second payment from a deposit to a node, settled lazily.
 * @dev Storage per lease is ONE packed word: balance (uint96, up to 7.9e16 credits) | rate (uint64) | settledAt
 * (uint32 seconds, until 2106) | feeBps (uint16, the platform fee fixed at open) | nodeId (uint48; node ids are
 * sequential from 1). The payer is bound into the lease id, so it takes no storage. `rate * elapsed < 2**64 *
 * 2**32 = 2**96`, so accrual never overflows and needs no mulDiv; fee products are below 2**96 * 10**4 < 2**110.
 * Per node ONE word: owed earnings (low 224 bits) | open leases (top 32 bits), so a withdrawal leaves the word
 * non-zero while leases run and the next settlement does not pay for a zero-to-non-zero write, and counting
 * leases costs no extra word. Owed sums are bounded by the credit this escrow holds (< 2**224 units), so they
 * are added unchecked and never carry into the count. When a node's count goes 0 -> 1 or 1 -> 0
 * the escrow tells the registry ({IProviderRegistry-markNodeBusy}), which counts a provider's busy nodes, so
 * the collateral check at withdrawal is O(1) and the common open / close pays nothing for it.
 *
 * Rounding: the fee is rounded DOWN (so the node always gets something of a non-zero settlement), the keeper
 * tip DOWN, and a discounted rate UP (`ceil(rate * (10_000 - d) / 10_000)`).
 *
 * Stops: the registry calls {nodesStopped} whenever a node or a provider stops being active; the time is kept
 * in the fee word (`lastStopAt`). A settlement of a lease settled before `lastStopAt` asks the registry for
 * the lease's {IProviderRegistry-leaseAccrualEnd} and accrues only up to it; every other settlement (the common
 * case) costs nothing more.
 *
 * Reentrancy: checks-effects-interactions. Every token transfer comes after all state changes of its
 * call; the credit token is immutable and has no transfer hooks; the registry is immutable and trusted (read,
 * and told {IProviderRegistry-markNodeBusy} after this contract's own writes; it never calls back except
 * {nodesStopped}, which only records a time); the discount oracle is only staticcalled with a gas cap. No
 * ReentrancyGuard.
 *
 * Meta-transactions ({openBySig}, {topUpBySig}, {closeBySig}): anyone (the engine's gas-paying signer)
 * submits a request the payer signed as EIP-712 typed data (domain "CloudmarketEscrow", version "1", this
 * chain and contract; see {eip712Domain}). The payer's signature is the only authority: EOAs by ECDSA,
 * contract wallets by EIP-1271 (a staticcall). Each request carries the payer's next nonce (one sequence per
 * payer shared by the three kinds, see {nonces}) and a deadline.
 */
contract DeploymentEscrow is IDeploymentEscrow, AccessControlDefaultAdminRules, EIP712, Nonces {
    using SafeERC20 for IERC20;

    /// @inheritdoc IDeploymentEscrow
    bytes32 public constant TOPUP_ROLE = keccak256("TOPUP_ROLE");
    /// @notice Signs quotes (the engine's quoting key; not the credit minter).
    bytes32 public constant QUOTE_SIGNER_ROLE = keccak256("QUOTE_SIGNER_ROLE");
    /// @notice May pause and unpause opens and top-ups ({setPaused}).
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @dev Delay of a default-admin transfer (two steps: begin, then accept after the delay; see
    /// {defaultAdminDelay}). Not a public getter: every external function costs the hot paths dispatch gas.
    uint48 private constant _ADMIN_TRANSFER_DELAY = 2 days;
    /// @dev Gas given to the discount oracle; a call that needs more gives no discount.
    uint256 private constant _DISCOUNT_GAS = 30_000;
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
    bytes32 private constant _QUOTE_TYPEHASH =
        keccak256("Quote(address payer,uint64 nodeId,uint256 ratePerSecond,bytes32 specHash,uint256 expiry)");

    // One packed word per lease, from the low bits: balance (96) | rate (64) | settledAt (32) | feeBps (16) |
    // nodeId (48). Open iff rate != 0 (rates are positive at open; closing zeroes it). Packed by hand so the
    // hot paths (settle, settleMany) do one SLOAD and one SSTORE per lease without memory structs.
    uint256 private constant _MASK224 = (1 << 224) - 1;
    uint256 private constant _COUNT_SHIFT = 224;
    uint256 private constant _MASK96 = (1 << 96) - 1;
    uint256 private constant _MASK64 = (1 << 64) - 1;
    uint256 private constant _MASK48 = (1 << 48) - 1;
    uint256 private constant _MASK32 = (1 << 32) - 1;
    uint256 private constant _MASK16 = (1 << 16) - 1;
    uint256 private constant _RATE_SHIFT = 96;
    uint256 private constant _SETTLED_SHIFT = 160;
    uint256 private constant _FEE_SHIFT = 192;
    uint256 private constant _NODE_SHIFT = 208;
    // What a settlement that does not empty the lease keeps: rate, fee and nodeId (balance and settledAt
    // change); what an emptying one keeps: fee and nodeId.
    uint256 private constant _KEEP_ON_EMPTY = (_MASK16 << _FEE_SHIFT) | (_MASK48 << _NODE_SHIFT);
    uint256 private constant _KEEP_ON_SETTLE = (_MASK64 << _RATE_SHIFT) | _KEEP_ON_EMPTY;

    // One word, read by every settlement: the fee accumulator, the tip parameters and the last stop, from the
    // low bits: feesOwed (128) | keeperShareBps (16) | maxTip (64) | lastStopAt (32) | zero (16).
    uint256 private constant _MASK128 = (1 << 128) - 1;
    uint256 private constant _SHARE_SHIFT = 128;
    uint256 private constant _MAX_TIP_SHIFT = 144;
    uint256 private constant _STOP_SHIFT = 208;
    uint256 private constant _PAUSED_SHIFT = 240;

    /// @dev One slot, read by every open (and top-up, for the pause flag).
    struct OpenState {
        address discountOracle;
        uint64 leaseCount;
        uint16 feeBps;
        bool paused;
    }

    /// @dev One slot per payer: the limit and the bucket's drained amount as of `updatedAt`.
    struct AutoTopUp {
        uint96 maxPerDay;
        uint32 updatedAt;
        uint96 drained;
    }

    IERC20 private immutable _token;
    IProviderRegistry private immutable _registry;

    uint256 private _feeWord;
    OpenState private _openState;
    address private _treasury;

    mapping(uint256 leaseId => uint256 packed) private _leases;
    // owed (224) | open leases (32, the top bits)
    mapping(uint64 nodeId => uint256 word) private _nodeWords;
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
    ) EIP712("CloudmarketEscrow", "1") AccessControlDefaultAdminRules(_ADMIN_TRANSFER_DELAY, admin) {
        if (
            address(token_) == address(0) || address(registry_) == address(0) || admin == address(0)
                || treasury_ == address(0)
        ) revert ZeroAddress();
        _token = token_;
        _registry = registry_;
        _treasury = treasury_;
        emit TreasurySet(treasury_);
        _setFeeParams(feeBps, keeperShareBps, maxTip);
    }

    // ---- leases ---------------------------------------------------------------------------------------

    /// @inheritdoc IDeploymentEscrow
    function open(
        uint64 nodeId,
        uint256 ratePerSecond,
        uint256 deposit,
        bytes32 specHash,
        QuoteSignature calldata quote
    ) external returns (uint256 leaseId) {
        _checkQuote(msg.sender, nodeId, ratePerSecond, specHash, quote);
        return _open(msg.sender, nodeId, ratePerSecond, deposit, specHash);
    }

    /// @inheritdoc IDeploymentEscrow
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
    ) external returns (uint256 leaseId) {
        _checkQuote(msg.sender, nodeId, ratePerSecond, specHash, quote);
        // A front-runner may have used the permit; the allowance it set is what the pull needs.
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), deposit, deadline, v, r, s) {}
            catch {}
        return _open(msg.sender, nodeId, ratePerSecond, deposit, specHash);
    }

    /// @inheritdoc IDeploymentEscrow
    function openBySig(
        OpenRequest calldata req,
        QuoteSignature calldata quote,
        Permit calldata permit,
        bytes calldata sig
    ) external returns (uint256 leaseId) {
        _useSignature(req.payer, digestOpenRequest(req), req.nonce, req.deadline, sig);
        _checkQuote(req.payer, req.nodeId, req.ratePerSecond, req.specHash, quote);
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
        uint256 feeWord = _feeWord;
        (uint256 newWord, uint256 due, uint256 fee) = _settlement(leaseId, word, feeWord);
        // Nothing elapsed (or the node stopped) since the last settlement: nothing is written or emitted.
        // slither-disable-next-line incorrect-equality
        if (due == 0) return;
        uint256 tip = _tipOf(fee, feeWord);
        _leases[leaseId] = newWord;
        _creditNode(_nodeId(word), due - fee);
        _feeWord = _addFees(feeWord, fee - tip);
        if (tip != 0) _creditTips(msg.sender, tip);
        uint256 balance = newWord & _MASK96;
        emit LeaseSettled(leaseId, due, balance);
        // slither-disable-next-line incorrect-equality
        if (balance == 0) {
            _leaseEnded(_nodeId(word));
            emit LeaseClosed(leaseId, msg.sender, 0);
        }
    }

    /// @inheritdoc IDeploymentEscrow
    function settleMany(uint256[] calldata leaseIds) external {
        uint256 feeWord = _feeWord;
        address reg = address(_registry);
        // The data of {LeasesSettled} is built in place as the leases are settled: the ABI encoding of one
        // dynamic `(uint256 leaseId, uint256 due, uint256 balance)[]` is [0x20, length, entries...]. The
        // buffer (room for every id) is allocated, the free memory pointer moved past it, before anything
        // else uses memory; `entry` is where the next entry goes.
        uint256 entry;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            entry := add(mload(0x40), 0x40)
            mstore(0x40, add(entry, mul(leaseIds.length, 0x60)))
        }
        // Two sums per word keep the loop within the stack: each per-lease amount is below 2**96 and a
        // calldata array has far fewer than 2**31 entries (each costs at least 128 gas of calldata), so every
        // sum stays below 2**127 and never carries into the next field (nor into bit 255).
        // `amounts`: keeper tips before the per-call cap (bits 128..254) | protocol fees, i.e. fee - tip (low
        // 128 bits) | bit 255 set once a lease was emptied.
        uint256 amounts = 0;
        // `run`: the node of the current run of consecutive leases on the same node (bits 128..175, nothing
        // above) | its earnings not yet added to its owed word (low 128 bits).
        uint256 run = 0;
        // {settle} for each lease: {_settlement} inlined with the same bounds and rounding (rate < 2**64 and
        // elapsed < 2**32, so rate * elapsed < 2**96; the lease's feeBps <= 2_000 and keeperShareBps <= 10_000,
        // so tip <= fee <= due <= balance < 2**96). Literals (assembly takes no computed constants): lease
        // word balance 0..95 | rate 96..159 | settledAt 160..191 | feeBps 192..207 | nodeId 208..255; fee word
        // keeperShareBps 128..143 | lastStopAt 208..239; node word owed 0..223. Fields are cut out with shift
        // pairs (`shr(a, shl(b, x))`) rather than masks: the optimizer rebuilds masks that recur in the contract
        // from smaller constants at run time (smaller code), which costs the loop ~15 gas per mask per lease.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let lastStop := and(shr(208, feeWord), 0xffffffff)
            // The lease mapping's slot stays in the second scratch word for the whole loop (the node words'
            // keys are hashed in the entry's own, not yet written, memory).
            mstore(0x20, _leases.slot)
            for {
                let p := leaseIds.offset
                let end := add(p, shl(5, leaseIds.length))
            } lt(p, end) { p := add(p, 0x20) } {
                mstore(0x00, calldataload(p))
                let slot := keccak256(0x00, 0x40)
                let word := sload(slot)
                // `t`: settled up to now, or up to the node's stop, asked of the registry (leaseAccrualEnd(nodeId,
                // settledAt)) only for an open lease settled at or before the last stop anywhere.
                let t := timestamp()
                let due := and(shr(160, word), 0xffffffff) // settledAt for now
                if iszero(gt(due, lastStop)) {
                    if shr(192, shl(96, word)) {
                        let m := mload(0x40)
                        mstore(m, shl(224, 0x9881a676))
                        mstore(add(m, 0x04), shr(208, word))
                        mstore(add(m, 0x24), due)
                        if iszero(staticcall(gas(), reg, m, 0x44, 0x00, 0x20)) {
                            returndatacopy(m, 0, returndatasize())
                            revert(m, returndatasize())
                        }
                        if lt(mload(0x00), t) { t := mload(0x00) }
                        if lt(t, due) { t := due }
                    }
                }
                // Closed or unknown leases have rate 0, so nothing is due: skipped like a lease settled this
                // second already (or stopped). Nothing is written for them.
                due := mul(shr(192, shl(96, word)), sub(t, due))
                let left := shr(160, shl(160, word))
                if gt(due, left) { due := left }
                if iszero(due) { continue }
                left := sub(left, due)
                switch left
                case 0 {
                    // Emptied: closed (rate and balance zero), settledAt t, fee and node kept.
                    sstore(slot, or(and(word, 0xffffffffffffffff000000000000000000000000000000000000000000000000), shl(160, t)))
                    amounts := or(amounts, 0x8000000000000000000000000000000000000000000000000000000000000000)
                }
                default {
                    sstore(slot, or(or(and(word, 0xffffffffffffffff00000000ffffffffffffffff000000000000000000000000), left), shl(160, t)))
                }
                // Fee rounded down, at the lease's own feeBps.
                slot := div(mul(due, and(shr(192, word), 0xffff)), 10000) // now the fee
                word := shr(208, word) // now the node id
                // Node ids compared exactly (our own accounting).
                // slither-disable-next-line incorrect-equality
                if iszero(eq(word, shr(128, run))) {
                    // Another node: add the finished run's earnings to its owed bits (bounded by the credit
                    // held here, see {_creditNode}).
                    if shl(128, run) {
                        mstore(entry, shr(128, run))
                        mstore(add(entry, 0x20), _nodeWords.slot)
                        let owedSlot := keccak256(entry, 0x40)
                        sstore(owedSlot, add(sload(owedSlot), shr(128, shl(128, run))))
                    }
                    run := shl(128, word)
                }
                run := add(run, sub(due, slot))
                // Tip: share of the fee rounded down; the maxTip cap applies to the call's total below.
                // slither-disable-next-line divide-before-multiply
                word := div(mul(slot, and(shr(128, feeWord), 0xffff)), 10000) // now the tip
                amounts := add(amounts, or(shl(128, word), sub(slot, word)))
                mstore(entry, calldataload(p))
                mstore(add(entry, 0x20), due)
                mstore(add(entry, 0x40), left)
                entry := add(entry, 0x60)
            }
        }
        if (run & _MASK128 != 0) _creditNode(uint64(run >> 128), run & _MASK128);
        uint256 tips = (amounts >> 128) & ((1 << 127) - 1);
        uint256 fees = amounts & _MASK128;
        uint256 maxTip = (feeWord >> _MAX_TIP_SHIFT) & _MASK64;
        if (tips > maxTip) {
            // maxTip is per call: what the shares exceed it by stays with the protocol.
            fees += tips - maxTip;
            tips = maxTip;
        }
        if (fees != 0) _feeWord = _addFees(feeWord, fees);
        if (tips != 0) _creditTips(msg.sender, tips);
        _emitBatch(entry, leaseIds.length, amounts >> 255 != 0);
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
        address payee = _payeeOf(nodeId);
        if (msg.sender != payee) revert NotPayee(nodeId, msg.sender, payee);
        uint256 word = _nodeWords[nodeId];
        uint256 amount = word & _MASK224;
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (amount == 0) revert NothingToWithdraw();
        // The count bits stay: while leases run, the next settlement writes a non-zero word, not a fresh one.
        _nodeWords[nodeId] = word & ~_MASK224;
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
        uint256 feeWord = _feeWord;
        uint256 amount = feeWord & _MASK128;
        // Exact zero / state / day checks on our own accounting, not on balances an attacker can nudge.
        // slither-disable-next-line incorrect-equality
        if (amount == 0) revert NothingToWithdraw();
        _feeWord = feeWord & ~_MASK128;
        address treasury_ = _treasury;
        emit FeesWithdrawn(treasury_, amount);
        _token.safeTransfer(treasury_, amount);
    }

    /// @inheritdoc IDeploymentEscrow
    function setAutoTopUp(uint256 maxPerDay) external {
        if (maxPerDay > type(uint96).max) revert AmountTooLarge(maxPerDay, type(uint96).max);
        AutoTopUp storage a = _autoTopUps[msg.sender];
        // What was drained (as of now) stays drained under the new limit, clamped to its capacity.
        uint256 drained = _drainedNow(a.maxPerDay, a.updatedAt, a.drained);
        uint256 capacity = maxPerDay / 2;
        a.maxPerDay = uint96(maxPerDay);
        a.updatedAt = uint32(block.timestamp);
        a.drained = uint96(drained < capacity ? drained : capacity);
        emit AutoTopUpSet(msg.sender, maxPerDay);
    }

    /// @inheritdoc IDeploymentEscrow
    function autoTopUp(uint256 leaseId, uint256 amount) external onlyRole(TOPUP_ROLE) {
        address payer = _payerOf(leaseId);
        AutoTopUp storage a = _autoTopUps[payer];
        uint256 capacity = uint256(a.maxPerDay) / 2;
        uint256 drained = _drainedNow(a.maxPerDay, a.updatedAt, a.drained);
        uint256 available = capacity - drained;
        if (amount > available) revert AutoTopUpExceeded(payer, amount, available);
        // drained + amount <= capacity < 2**96; block.timestamp fits uint32 until 2106.
        a.updatedAt = uint32(block.timestamp);
        a.drained = uint96(drained + amount);
        _topUp(leaseId, amount, payer);
        emit AutoToppedUp(leaseId, payer, amount, available - amount);
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
    function setPaused(bool paused_) external onlyRole(PAUSER_ROLE) {
        _setPaused(paused_);
    }

    /// @inheritdoc IEscrowHooks
    function nodesStopped() external {
        if (msg.sender != address(_registry)) revert NotRegistry();
        // block.timestamp fits uint32 until 2106.
        _feeWord = (_feeWord & ~(_MASK32 << _STOP_SHIFT)) | (block.timestamp << _STOP_SHIFT);
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
        if (_rate(word) == 0) return 0;
        uint256 settledAt = (word >> _SETTLED_SHIFT) & _MASK32;
        return Math.min(word & _MASK96, _rate(word) * (_accrualTo(word, settledAt, _feeWord) - settledAt));
    }

    /// @inheritdoc IDeploymentEscrow
    function payerOf(uint256 leaseId) external pure returns (address) {
        return _payerOf(leaseId);
    }

    /// @inheritdoc IDeploymentEscrow
    function nodeOwed(uint64 nodeId) external view returns (uint256) {
        return _nodeWords[nodeId] & _MASK224;
    }

    /// @inheritdoc IDeploymentEscrow
    function openLeaseCount(uint64 nodeId) external view returns (uint256) {
        return _nodeWords[nodeId] >> _COUNT_SHIFT;
    }

    /// @inheritdoc IDeploymentEscrow
    function paused() external view returns (bool) {
        return _openState.paused;
    }

    /// @inheritdoc IDeploymentEscrow
    function tipsOwed(address keeper) external view returns (uint256) {
        return _tips[keeper];
    }

    /// @inheritdoc IDeploymentEscrow
    function feesOwed() external view returns (uint256) {
        return _feeWord & _MASK128;
    }

    /// @inheritdoc IDeploymentEscrow
    function feeParams() external view returns (uint256 feeBps, uint256 keeperShareBps, uint256 maxTip) {
        uint256 feeWord = _feeWord;
        return (_openState.feeBps, (feeWord >> _SHARE_SHIFT) & _MASK16, (feeWord >> _MAX_TIP_SHIFT) & _MASK64);
    }

    /// @inheritdoc IDeploymentEscrow
    function autoTopUpOf(address payer) external view returns (uint256 maxPerDay, uint256 available) {
        AutoTopUp memory a = _autoTopUps[payer];
        return (a.maxPerDay, uint256(a.maxPerDay) / 2 - _drainedNow(a.maxPerDay, a.updatedAt, a.drained));
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
    function digestQuote(address payer, uint64 nodeId, uint256 ratePerSecond, bytes32 specHash, uint256 expiry)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(_QUOTE_TYPEHASH, payer, nodeId, ratePerSecond, specHash, expiry)));
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

    /// @dev {open} for `payer`, whose credit is pulled and whom the lease id binds (quote checked by the caller).
    function _open(address payer, uint64 nodeId, uint256 ratePerSecond, uint256 deposit, bytes32 specHash)
        private
        returns (uint256 leaseId)
    {
        if (ratePerSecond == 0) revert ZeroRate();
        if (deposit == 0) revert ZeroAmount();
        if (deposit > type(uint96).max) revert AmountTooLarge(deposit, type(uint96).max);
        OpenState memory state = _openState;
        if (state.paused) revert EnforcedPause();
        if (nodeId > _MASK48 || !_registry.isNodeActive(nodeId)) revert NodeNotActive(nodeId);
        uint256 discount = 0;
        uint256 rate = ratePerSecond;
        if (state.discountOracle != address(0)) {
            discount = _discountOf(state.discountOracle, payer);
            // Rounded up so a discount never turns a positive rate into zero; 10_000 - discount >= 5_000.
            if (discount != 0) rate = Math.mulDiv(ratePerSecond, _BPS - discount, _BPS, Math.Rounding.Ceil);
        }
        if (rate > type(uint64).max) revert RateTooLarge(rate, type(uint64).max);
        uint64 sequence = state.leaseCount + 1;
        _openState.leaseCount = sequence;
        leaseId = (uint256(uint160(payer)) << 64) | sequence;
        // block.timestamp fits uint32 until 2106; the fee in force now is the lease's for its whole life.
        _leases[leaseId] = _pack(deposit, rate, block.timestamp, state.feeBps, nodeId);
        uint256 nodeWord = _nodeWords[nodeId];
        // One more open lease (checked: 4 billion leases open at once on one node revert).
        uint256 count = (nodeWord >> _COUNT_SHIFT) + 1;
        if (count > _MASK32) revert AmountTooLarge(count, _MASK32);
        _nodeWords[nodeId] = (nodeWord & _MASK224) | (count << _COUNT_SHIFT);
        emit LeaseOpened(leaseId, payer, nodeId, rate, deposit, specHash, discount);
        // First open lease on the node: the provider has one more busy node (registry, O(1)).
        if (count == 1) _registry.markNodeBusy(nodeId, true);
        _token.safeTransferFrom(payer, address(this), deposit);
    }

    /// @dev Reverts unless `quote` is a `QUOTE_SIGNER_ROLE` signature, not expired, over these terms.
    function _checkQuote(
        address payer,
        uint64 nodeId,
        uint256 ratePerSecond,
        bytes32 specHash,
        QuoteSignature calldata quote
    ) private view {
        // The engine chose the expiry (minutes); a drift of seconds moves it by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp > quote.expiry) revert QuoteExpired(quote.expiry);
        // The error's argument (the bad length or s) is not needed: any error is an InvalidQuote.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(digestQuote(payer, nodeId, ratePerSecond, specHash, quote.expiry), quote.r, quote.vs);
        if (err != ECDSA.RecoverError.NoError || !hasRole(QUOTE_SIGNER_ROLE, signer)) revert InvalidQuote(signer);
    }

    /**
     * @dev The oracle's discount for `payer`, capped at MAX_DISCOUNT_BPS: a staticcall with _DISCOUNT_GAS gas
     * reading 32 bytes; a revert, no code, short return data or running out of the capped gas gives 0. If the
     * call failed because this transaction itself is nearly out of gas (the 63/64 rule gave the oracle less
     * than _DISCOUNT_GAS), revert instead, so a relayer cannot strip a payer's discount by starving the call.
     */
    function _discountOf(address oracle, address payer) private view returns (uint256 discount) {
        bool ok;
        uint256 size;
        uint256 value;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, shl(224, 0x78e5e5fe)) // discountBps(address)
            mstore(0x04, payer)
            ok := staticcall(_DISCOUNT_GAS, oracle, 0x00, 0x24, 0x00, 0x20)
            size := returndatasize()
            value := mload(0x00)
        }
        if (!ok) {
            if (gasleft() < _DISCOUNT_GAS / 63) revert DiscountOracleStarved();
            return 0;
        }
        if (size < 32) return 0;
        discount = Math.min(value, MAX_DISCOUNT_BPS);
    }

    /// @dev Settles the open lease `word` of `payer`, zeroes it and refunds the rest to `payer`; `closer` is
    /// reported in {LeaseClosed}.
    function _close(uint256 leaseId, uint256 word, address payer, address closer) private {
        uint256 feeWord = _feeWord;
        (uint256 newWord, uint256 due, uint256 fee) = _settlement(leaseId, word, feeWord);
        if (due != 0) {
            // No keeper tip on close: the whole fee is the protocol's.
            _creditNode(_nodeId(word), due - fee);
            _feeWord = _addFees(feeWord, fee);
            word = newWord;
            emit LeaseSettled(leaseId, due, word & _MASK96);
            // Emptied by this settlement: closed already, nothing to refund.
            // slither-disable-next-line incorrect-equality
            if (_rate(word) == 0) emit LeaseClosed(leaseId, closer, 0);
        }
        uint256 refund = word & _MASK96;
        if (_rate(word) != 0) {
            // Not emptied by the settlement above (which would have closed it already): zero balance and
            // rate, keep settledAt, fee and nodeId.
            word &= _KEEP_ON_EMPTY | (_MASK32 << _SETTLED_SHIFT);
            emit LeaseClosed(leaseId, closer, refund);
        }
        _leases[leaseId] = word;
        _leaseEnded(_nodeId(word));
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
        uint256 feeWord = _feeWord;
        // The pause flag is mirrored in the fee word, read here anyway for the last stop.
        if ((feeWord >> _PAUSED_SHIFT) & 1 != 0) revert EnforcedPause();
        uint256 settledAt = (word >> _SETTLED_SHIFT) & _MASK32;
        uint256 until = _accrualTo(word, settledAt, feeWord);
        // A stopped lease takes no more credit (close it for the refund).
        // slither-disable-next-line timestamp
        if (until < block.timestamp) revert NodeNotActive(_nodeId(word));
        uint256 balance = word & _MASK96;
        // rate < 2**64 and elapsed < 2**32, so the product stays below 2**96.
        // Timestamps decide depletion by design; a drift of seconds moves it by seconds.
        // slither-disable-next-line timestamp
        if (rate * (until - settledAt) >= balance) revert LeaseDepleted(leaseId);
        uint256 newBalance = balance + amount;
        if (newBalance > type(uint96).max) revert AmountTooLarge(newBalance, type(uint96).max);
        // Replace the balance bits only.
        _leases[leaseId] = (word & ~_MASK96) | newBalance;
        emit LeaseToppedUp(leaseId, from, amount, newBalance);
        _token.safeTransferFrom(from, address(this), amount);
    }

    /**
     * @dev Emits the {LeasesSettled} built by {settleMany} (allocated for `capacity` entries, filled up to
     * `entry`), nothing if it is empty, then {LeaseClosed} for its entries with a zero balance if `emptied`.
     * The buffer is the LAST memory allocation (its start is recomputed from the free memory pointer, which
     * saves a stack slot in the loop): between the allocation and this call {settleMany} only writes
     * mappings (scratch space) and would revert before allocating.
     */
    function _emitBatch(uint256 entry, uint256 capacity, bool emptied) private {
        uint256 data;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            data := sub(mload(0x40), add(0x40, mul(capacity, 0x60)))
        }
        uint256 first = data + 0x40;
        // Nothing settled: nothing changed, no event.
        if (entry == first) return;
        bytes32 topic = LeasesSettled.selector;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(data, 0x20)
            mstore(add(data, 0x20), div(sub(entry, first), 0x60))
            log2(data, sub(entry, data), topic, caller())
        }
        if (!emptied) return;
        // Leases the batch emptied close, reported after the settlement that emptied them (as {settle}).
        for (uint256 p = first; p < entry; p += 0x60) {
            uint256 leaseId;
            uint256 left;
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                leaseId := mload(p)
                left := mload(add(p, 0x40))
            }
            // slither-disable-next-line incorrect-equality
            if (left == 0) {
                _leaseEnded(_nodeId(_leases[leaseId]));
                emit LeaseClosed(leaseId, msg.sender, 0);
            }
        }
    }

    /**
     * @dev The settlement of the open lease `word` (id `leaseId`) up to now, or up to its node's stop, without
     * writing storage: `due = min(balance, rate * elapsed)`, `fee = floor(due * feeBps / 10_000)` at the
     * lease's feeBps, and the new word (balance - due, settledAt = the accrual end, rate zeroed when the
     * balance empties, fee and node kept). When nothing is due the word comes back unchanged with `due == 0`.
     * The accrual end is now unless a node or provider stopped at or after the lease's settledAt (`lastStopAt`
     * in `feeWord`); then it is the registry's {IProviderRegistry-leaseAccrualEnd} (never before settledAt), and
     * {LeaseStopped} is emitted when it is before now and something was due.
     */
    function _settlement(uint256 leaseId, uint256 word, uint256 feeWord)
        private
        returns (uint256 newWord, uint256 due, uint256 fee)
    {
        uint256 settledAt = (word >> _SETTLED_SHIFT) & _MASK32;
        uint256 until = block.timestamp;
        // slither-disable-next-line timestamp
        if (settledAt <= (feeWord >> _STOP_SHIFT) & _MASK32) until = _accrualTo(word, settledAt, feeWord);
        uint256 balance = word & _MASK96;
        // rate < 2**64 and elapsed < 2**32 (settledAt <= until <= now, uint32 seconds): the product is below
        // 2**96. due <= balance < 2**96 and feeBps <= MAX_FEE_BPS < 10_000, so the fee product is below
        // 2**110 and fee <= due; balance - due >= 0.
        unchecked {
            due = _rate(word) * (until - settledAt);
            if (due > balance) due = balance;
            // Exact zero checks on our own accounting, not on balances an attacker can nudge.
            // slither-disable-next-line incorrect-equality
            if (due == 0) return (word, 0, 0);
            fee = (due * ((word >> _FEE_SHIFT) & _MASK16)) / _BPS;
            balance -= due;
        }
        // slither-disable-next-line timestamp
        if (until < block.timestamp) emit LeaseStopped(leaseId, until);
        // Emptied: rate and balance zero (closed), fee and node kept. Otherwise only balance and settledAt
        // change. until fits uint32 until 2106.
        // slither-disable-next-line incorrect-equality
        uint256 kept = balance == 0 ? word & _KEEP_ON_EMPTY : word & _KEEP_ON_SETTLE;
        newWord = kept | balance | (until << _SETTLED_SHIFT);
    }

    /**
     * @dev Up to when the lease `word` (settled up to `settledAt`) accrues now: `block.timestamp`, unless a
     * node or provider stopped at or after `settledAt` (`lastStopAt` in `feeWord`); then the registry's
     * {IProviderRegistry-leaseAccrualEnd} of its node, never before `settledAt`.
     */
    function _accrualTo(uint256 word, uint256 settledAt, uint256 feeWord) private view returns (uint256 until) {
        until = block.timestamp;
        // slither-disable-next-line timestamp
        if (settledAt <= (feeWord >> _STOP_SHIFT) & _MASK32) {
            uint256 end = _registry.leaseAccrualEnd(_nodeId(word), settledAt);
            // slither-disable-next-line timestamp
            if (end < until) until = end < settledAt ? settledAt : end;
        }
    }

    /// @dev The keeper tip out of `fee`: `min(fee * keeperShareBps / 10_000, maxTip)`, rounded down, <= fee.
    function _tipOf(uint256 fee, uint256 feeWord) private pure returns (uint256 tip) {
        // fee < 2**96 and keeperShareBps < 2**16: no overflow; keeperShareBps <= 10_000, so tip <= fee.
        unchecked {
            tip = (fee * ((feeWord >> _SHARE_SHIFT) & _MASK16)) / _BPS;
        }
        uint256 maxTip = (feeWord >> _MAX_TIP_SHIFT) & _MASK64;
        if (tip > maxTip) tip = maxTip;
    }

    /// @dev `feeWord` with `amount` added to its fee accumulator (the low 128 bits; reverts rather than
    /// carry into the parameters).
    function _addFees(uint256 feeWord, uint256 amount) private pure returns (uint256) {
        uint256 owed = (feeWord & _MASK128) + amount;
        if (owed > _MASK128) revert AmountTooLarge(owed, _MASK128);
        return (feeWord & ~_MASK128) | owed;
    }

    /**
     * @dev `_registry.nodePayee(nodeId)` as a plain staticcall: same call, same checks (a failed call's revert is
     * bubbled up; return data shorter than a word or not an address reverts), without the high-level call's
     * memory allocation and decoder (keeps {withdraw} within its gas target).
     */
    function _payeeOf(uint64 nodeId) private view returns (address payee) {
        address reg = address(_registry);
        bytes4 selector = IProviderRegistry.nodePayee.selector;
        bool ok;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            mstore(0x00, selector)
            mstore(0x04, nodeId)
            ok := staticcall(gas(), reg, 0x00, 0x24, 0x00, 0x20)
            payee := mload(0x00)
            // A bad answer (short or not an address) is treated as a failed call.
            if iszero(and(gt(returndatasize(), 0x1f), iszero(shr(160, payee)))) { ok := 0 }
            if iszero(ok) {
                let m := mload(0x40)
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
        }
    }

    /// @dev Adds settled earnings to a node's owed bits; returns the node's provider (same word).
    function _creditNode(uint64 nodeId, uint256 amount) private {
        // Every unit owed to a node came out of a lease balance, i.e. credit this contract holds (far below
        // 2**224 units): the sum never carries into the count bits.
        unchecked {
            _nodeWords[nodeId] += amount;
        }
    }

    /// @dev One lease on `nodeId` closed; the last one frees the node in the registry.
    function _leaseEnded(uint64 nodeId) private {
        uint256 word = _nodeWords[nodeId] - (1 << _COUNT_SHIFT);
        _nodeWords[nodeId] = word;
        // Exact zero check on our own count. The registry is immutable and trusted; settleMany calls it once per
        // emptied lease that was its node's last open one.
        // slither-disable-next-line incorrect-equality,calls-loop
        if (word >> _COUNT_SHIFT == 0) _registry.markNodeBusy(nodeId, false);
    }

    /// @dev The auto top-up bucket's drained amount now: `drained` less the refill since `updatedAt`
    /// (`maxPerDay / 2` per day, rounded down).
    function _drainedNow(uint256 maxPerDay, uint256 updatedAt, uint256 drained) private view returns (uint256) {
        uint256 refill = (maxPerDay * (block.timestamp - updatedAt)) / 2 days;
        return drained > refill ? drained - refill : 0;
    }

    function _setPaused(bool paused_) private {
        _openState.paused = paused_;
        uint256 feeWord = _feeWord & ~(uint256(1) << _PAUSED_SHIFT);
        _feeWord = paused_ ? feeWord | (uint256(1) << _PAUSED_SHIFT) : feeWord;
        emit PauseSet(paused_, msg.sender);
    }

    /// @dev Adds keeper tips; bounded like {_creditNode}.
    function _creditTips(address keeper, uint256 amount) private {
        // Tips are paid out of fees on credit this contract holds (<= the token's total supply < 2**256).
        unchecked {
            _tips[keeper] += amount;
        }
    }

    function _setFeeParams(uint16 feeBps, uint16 keeperShareBps, uint64 maxTip) private {
        if (feeBps > MAX_FEE_BPS) revert InvalidBps(feeBps, MAX_FEE_BPS);
        if (keeperShareBps > _BPS) revert InvalidBps(keeperShareBps, _BPS);
        // New leases take the new fee; running leases keep theirs (stored in the lease).
        _openState.feeBps = feeBps;
        uint256 kept = _feeWord & (_MASK128 | (type(uint256).max << _STOP_SHIFT));
        _feeWord = kept | (uint256(keeperShareBps) << _SHARE_SHIFT) | (uint256(maxTip) << _MAX_TIP_SHIFT);
        emit FeeParamsSet(feeBps, keeperShareBps, maxTip);
    }

    /// @dev Packs a lease word; callers guarantee balance < 2**96, rate < 2**64, settledAt < 2**32, nodeId < 2**48.
    function _pack(uint256 balance, uint256 rate, uint256 settledAt, uint256 feeBps, uint64 nodeId)
        private
        pure
        returns (uint256)
    {
        return balance | (rate << _RATE_SHIFT) | (settledAt << _SETTLED_SHIFT) | (feeBps << _FEE_SHIFT)
            | (uint256(nodeId) << _NODE_SHIFT);
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
