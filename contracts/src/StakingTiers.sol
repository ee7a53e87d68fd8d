// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IDiscountOracle} from "./interfaces/IDiscountOracle.sol";
import {IStakingTiers} from "./interfaces/IStakingTiers.sol";

/**
 * @title StakingTiers
 * @notice Platform-token stakes that buy an account-level discount tier; the escrow's discount oracle.
 * @dev The discount formula, the tier rules and the staking flow are documented in {IStakingTiers}.
 *
 * Storage: ONE packed slot per staker ({IStakingTiers-Stake}: active 96 | cooling 96 | coolingEnd 32 |
 * lockedUntil 32), so stake / requestUnstake / withdraw read and write one word of their own. No total is kept
 * (it would cost every stake and unstake a second word): the sum of all stakes is the contract's token balance
 * (the invariant test checks it; tokens sent here by plain transfer are lost to the sender, never staked).
 * Tiers: two fixed sets (current and pending) of at most MAX_TIERS one-slot tiers and one header word; the
 * pending set becomes current lazily (views read the header and pick the set in force at `block.timestamp`;
 * {scheduleTiers} promotes it before writing the other set).
 *
 * {discountBps} is staticcalled by the escrow with a 30,000-gas cap and never reverts. It reads the staker slot
 * first (no active stake: 0 after that one read, the common open), then the header, tier slots from the top
 * down to the first the stake meets (at most MAX_TIERS) and the spend-rate slot: all cold, under 22,000 gas
 * (a test opens a lease with six tiers, every slot cold, and gets its discount).
 *
 * By signature ({stakeBySig}, {requestUnstakeBySig}, {withdrawBySig}; managed wallets hold tokens but no ETH):
 * the same internal functions as the direct calls, with `req.account` in place of `msg.sender`, after the
 * deadline, the account's nonce (OZ {Nonces}, used once) and its signature (ECDSA, or EIP-1271 for a contract
 * account: `SignatureChecker`) are checked. The sender gains nothing: tokens move between `req.account` and this
 * contract only.
 *
 * Reentrancy: checks-effects-interactions; the token is immutable (a plain ERC-20 without hooks); no guard.
 */
contract StakingTiers is IStakingTiers, AccessControlDefaultAdminRules, EIP712, Nonces {
    using SafeERC20 for IERC20;

    /// @notice Schedules tier sets.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @notice Reports accounts' total open lease rates (the engine).
    bytes32 public constant SPEND_REPORTER_ROLE = keccak256("SPEND_REPORTER_ROLE");
    /// @notice Most tiers in a set (bounds the oracle's gas).
    uint256 public constant MAX_TIERS = 6;
    /// @notice Highest discount a tier may grant, in basis points (60%; the escrow applies its own cap too).
    uint256 public constant MAX_DISCOUNT_BPS = 6_000;
    /// @notice Longest lock, from now, and longest lock a tier may require.
    uint256 public constant MAX_LOCK = 4 * 365 days;
    /// @dev Delay of a default-admin transfer (two steps, like the escrow).
    uint48 private constant _ADMIN_TRANSFER_DELAY = 2 days;
    uint256 private constant _TOKEN_UNIT = 1e18;

    bytes32 private constant _STAKE_TYPEHASH =
        keccak256("StakeRequest(address account,uint256 amount,uint32 lockUntil,uint256 nonce,uint256 deadline)");
    bytes32 private constant _UNSTAKE_TYPEHASH =
        keccak256("UnstakeRequest(address account,uint256 amount,uint256 nonce,uint256 deadline)");
    bytes32 private constant _WITHDRAW_TYPEHASH =
        keccak256("WithdrawRequest(address account,uint256 nonce,uint256 deadline)");

    /// @dev One word: which set is current, both counts, when the pending set takes effect (0 = none), factors.
    struct Header {
        uint8 currentSet;
        uint8 currentCount;
        uint8 pendingCount;
        uint32 activatesAt;
        uint96 currentCover;
        uint96 pendingCover;
    }

    IERC20 private immutable _token;
    uint256 private immutable _cooldown;
    uint256 private immutable _tierDelay;

    Header private _header;
    Tier[MAX_TIERS][2] private _sets;
    mapping(address account => Stake) private _stakes;
    mapping(address account => uint256 ratePerSecond) private _spendRates;

    /**
     * @param token_ The platform token.
     * @param admin Receives `DEFAULT_ADMIN_ROLE` (two-step transfer with a 2-day delay).
     * @param cooldown_ Seconds from {requestUnstake} to {withdraw} (fixed for the contract's life).
     * @param tierDelay_ Seconds from {scheduleTiers} to the new set taking effect (fixed for the contract's life).
     */
    constructor(IERC20 token_, address admin, uint256 cooldown_, uint256 tierDelay_)
        AccessControlDefaultAdminRules(_ADMIN_TRANSFER_DELAY, admin)
        EIP712("CloudmarketStaking", "1")
    {
        if (address(token_) == address(0)) revert ZeroAddress();
        _token = token_;
        _cooldown = cooldown_;
        _tierDelay = tierDelay_;
    }

    // ---- staking ----------------------------------------------------------------------------------------

    /// @inheritdoc IStakingTiers
    function stake(uint256 amount, uint32 lockUntil) external {
        _stake(msg.sender, amount, lockUntil);
    }

    /// @inheritdoc IStakingTiers
    function requestUnstake(uint256 amount) external {
        _requestUnstake(msg.sender, amount);
    }

    /// @inheritdoc IStakingTiers
    function withdraw() external {
        _withdraw(msg.sender);
    }

    /// @inheritdoc IStakingTiers
    // The permit is a call to the immutable platform token (OpenZeppelin ERC20Permit: no hooks, no callbacks),
    // made before the stake's state write on purpose (the pull in {_stake} needs its allowance): benign.
    // slither-disable-next-line reentrancy-benign,reentrancy-events
    function stakeBySig(StakeRequest calldata req, Permit calldata permit, bytes calldata sig) external {
        _useSignature(req.account, digestStakeRequest(req), req.nonce, req.deadline, sig);
        _applyPermit(req.account, req.amount, permit);
        _stake(req.account, req.amount, req.lockUntil);
    }

    /// @inheritdoc IStakingTiers
    function requestUnstakeBySig(UnstakeRequest calldata req, bytes calldata sig) external {
        _useSignature(req.account, digestUnstakeRequest(req), req.nonce, req.deadline, sig);
        _requestUnstake(req.account, req.amount);
    }

    /// @inheritdoc IStakingTiers
    function withdrawBySig(WithdrawRequest calldata req, bytes calldata sig) external {
        _useSignature(req.account, digestWithdrawRequest(req), req.nonce, req.deadline, sig);
        _withdraw(req.account);
    }

    // ---- operator and engine ----------------------------------------------------------------------------

    /// @inheritdoc IStakingTiers
    function scheduleTiers(Tier[] calldata tiers_, uint96 coverPerToken) external onlyRole(OPERATOR_ROLE) {
        uint256 count = tiers_.length;
        if (count > MAX_TIERS) revert TooManyTiers(count, MAX_TIERS);
        if (count != 0 && coverPerToken == 0) revert ZeroCoverPerToken();
        Header memory h = _current();
        uint256 target = 1 - h.currentSet;
        uint256 previous = 0;
        for (uint256 i = 0; i < count; ++i) {
            Tier calldata t = tiers_[i];
            if (t.minStake <= previous) revert TiersNotAscending(i);
            if (t.discountBps > MAX_DISCOUNT_BPS) revert DiscountTooHigh(t.discountBps, MAX_DISCOUNT_BPS);
            if (t.minLock > MAX_LOCK) revert LockTooLong(t.minLock, MAX_LOCK);
            previous = t.minStake;
            _sets[target][i] = t;
        }
        h.pendingCount = uint8(count);
        h.pendingCover = coverPerToken;
        // Fits uint32 until 2106 for any delay a deployer would choose.
        h.activatesAt = uint32(block.timestamp + _tierDelay);
        _header = h;
        emit TiersScheduled(tiers_, coverPerToken, h.activatesAt);
    }

    /// @inheritdoc IStakingTiers
    function reportSpendRates(address[] calldata accounts, uint256[] calldata rates)
        external
        onlyRole(SPEND_REPORTER_ROLE)
    {
        if (accounts.length != rates.length) revert LengthMismatch(accounts.length, rates.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            _spendRates[accounts[i]] = rates[i];
            emit SpendRateReported(accounts[i], rates[i]);
        }
    }

    // ---- views ------------------------------------------------------------------------------------------

    /// @inheritdoc IDiscountOracle
    function discountBps(address payer) external view returns (uint256) {
        (, , uint256 discount) = _tierOf(payer);
        return discount;
    }

    /// @inheritdoc IStakingTiers
    function tierOf(address account) external view returns (uint256 level, uint256 coveredRate, uint256 discount) {
        return _tierOf(account);
    }

    /// @inheritdoc IStakingTiers
    function nonces(address account) public view override(IStakingTiers, Nonces) returns (uint256) {
        return super.nonces(account);
    }

    /// @inheritdoc IStakingTiers
    function digestStakeRequest(StakeRequest calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(_STAKE_TYPEHASH, req.account, req.amount, req.lockUntil, req.nonce, req.deadline))
        );
    }

    /// @inheritdoc IStakingTiers
    function digestUnstakeRequest(UnstakeRequest calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(_UNSTAKE_TYPEHASH, req.account, req.amount, req.nonce, req.deadline))
        );
    }

    /// @inheritdoc IStakingTiers
    function digestWithdrawRequest(WithdrawRequest calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_WITHDRAW_TYPEHASH, req.account, req.nonce, req.deadline)));
    }

    /// @inheritdoc IStakingTiers
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IStakingTiers
    function cooldown() external view returns (uint256) {
        return _cooldown;
    }

    /// @inheritdoc IStakingTiers
    function tierDelay() external view returns (uint256) {
        return _tierDelay;
    }

    /// @inheritdoc IStakingTiers
    function stakeOf(address account) external view returns (Stake memory) {
        return _stakes[account];
    }

    /// @inheritdoc IStakingTiers
    function spendRateOf(address account) external view returns (uint256) {
        return _spendRates[account];
    }

    /// @inheritdoc IStakingTiers
    function tiers() external view returns (Tier[] memory tiers_, uint256 coverPerToken) {
        Header memory h = _current();
        tiers_ = _copy(h.currentSet, h.currentCount);
        coverPerToken = h.currentCover;
    }

    /// @inheritdoc IStakingTiers
    function pendingTiers()
        external
        view
        returns (Tier[] memory tiers_, uint256 coverPerToken, uint256 activatesAt)
    {
        Header memory h = _current();
        // activatesAt == 0 is the "no pending set" sentinel written by the contract itself.
        // slither-disable-next-line incorrect-equality
        if (h.activatesAt == 0) return (new Tier[](0), 0, 0);
        return (_copy(1 - h.currentSet, h.pendingCount), h.pendingCover, h.activatesAt);
    }

    // ---- internals --------------------------------------------------------------------------------------

    /// @dev {stake} for `account`: tokens pulled from `account`.
    function _stake(address account, uint256 amount, uint32 lockUntil) private {
        if (amount == 0 && lockUntil == 0) revert ZeroAmount();
        Stake memory s = _stakes[account];
        uint256 active = s.active + amount;
        // active + cooling stays below 2**96, so requestUnstake's move between the two can never wrap.
        if (active + s.cooling > type(uint96).max) revert AmountTooLarge(active + s.cooling, type(uint96).max);
        s.active = uint96(active);
        if (lockUntil != 0) {
            // The lock only extends, lies in the future and at most MAX_LOCK ahead (a user-chosen time; a
            // validator's drift of seconds moves it by seconds).
            // slither-disable-next-line timestamp
            if (lockUntil <= s.lockedUntil || lockUntil <= block.timestamp || lockUntil > block.timestamp + MAX_LOCK)
            {
                revert InvalidLock(lockUntil, s.lockedUntil, block.timestamp + MAX_LOCK);
            }
            s.lockedUntil = lockUntil;
        }
        _stakes[account] = s;
        emit Staked(account, amount, active, s.lockedUntil);
        if (amount != 0) _token.safeTransferFrom(account, address(this), amount);
    }

    /// @dev {requestUnstake} for `account`.
    function _requestUnstake(address account, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        Stake memory s = _stakes[account];
        // slither-disable-next-line timestamp
        if (s.lockedUntil > block.timestamp) revert StakeLocked(s.lockedUntil);
        if (amount > s.active) revert InsufficientStake(s.active, amount);
        // amount <= active, and cooling + amount <= active + cooling < 2**96 ({stake} keeps the sum below
        // 2**96): neither can wrap.
        unchecked {
            s.active -= uint96(amount);
            s.cooling += uint96(amount);
        }
        // Fixed now: a later change cannot shorten or stretch this cooldown. Fits uint32 until 2106.
        s.coolingEnd = uint32(block.timestamp + _cooldown);
        _stakes[account] = s;
        emit UnstakeRequested(account, amount, s.active, s.coolingEnd);
    }

    /// @dev {withdraw} for `account`: the cooled stake goes to `account`.
    function _withdraw(address account) private {
        Stake memory s = _stakes[account];
        uint256 amount = s.cooling;
        // Zero means "nothing cooling": a sentinel, not a balance compared after arithmetic.
        // slither-disable-next-line incorrect-equality
        if (amount == 0) revert NothingToWithdraw();
        // slither-disable-next-line timestamp
        if (block.timestamp < s.coolingEnd) revert CooldownNotOver(s.coolingEnd);
        s.cooling = 0;
        s.coolingEnd = 0;
        _stakes[account] = s;
        emit Withdrawn(account, amount);
        _token.safeTransfer(account, amount);
    }

    /**
     * @dev Checks a signed request of `account`: not past `deadline`, `nonce` is the account's next one (then
     * used), and `sig` signs the EIP-712 `digest` (ECDSA for accounts without code, EIP-1271 otherwise; the
     * wallet is only staticcalled).
     */
    function _useSignature(address account, bytes32 digest, uint256 nonce, uint256 deadline, bytes calldata sig)
        private
    {
        // The signer chose the deadline; a drift of seconds moves it by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) revert ExpiredSignature(deadline);
        _useCheckedNonce(account, nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(account, digest, sig)) revert InvalidSigner(account);
    }

    /**
     * @dev Applies `account`'s EIP-2612 permit for this contract unless `permit.value` is zero (use the
     * allowance as is). A failing permit (typically one a front-runner already submitted) is tolerated when the
     * allowance covers `amount`.
     */
    function _applyPermit(address account, uint256 amount, Permit calldata permit) private {
        // Zero is the request's "no permit" sentinel, not a balance.
        // slither-disable-next-line incorrect-equality
        if (permit.value == 0) return;
        try IERC20Permit(address(_token)).permit(
            account, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {
            uint256 allowance = _token.allowance(account, address(this));
            if (allowance < amount) revert PermitFailed(account, allowance, amount);
        }
    }

    /// @dev The header as of now: a pending set whose time has come is reported (and, when written, stored) as
    /// current.
    function _current() private view returns (Header memory h) {
        h = _header;
        // slither-disable-next-line timestamp
        if (h.activatesAt != 0 && block.timestamp >= h.activatesAt) {
            h.currentSet = 1 - h.currentSet;
            h.currentCount = h.pendingCount;
            h.currentCover = h.pendingCover;
            h.pendingCount = 0;
            h.pendingCover = 0;
            h.activatesAt = 0;
        }
    }

    function _copy(uint256 set, uint256 count) private view returns (Tier[] memory out) {
        out = new Tier[](count);
        for (uint256 i = 0; i < count; ++i) {
            out[i] = _sets[set][i];
        }
    }

    /// @dev The formula of {IStakingTiers}: level by active stake and remaining lock, coverage, discount.
    function _tierOf(address account) private view returns (uint256 level, uint256 covered, uint256 discount) {
        Stake memory s = _stakes[account];
        // No active stake, no tier (and no coverage): the common open by a non-staker reads one slot here.
        // slither-disable-next-line incorrect-equality
        if (s.active == 0) return (0, 0, 0);
        Header memory h = _current();
        // active < 2**96 and cover < 2**96: the product fits 192 bits.
        covered = uint256(s.active) * h.currentCover / _TOKEN_UNIT;
        for (uint256 i = h.currentCount; i > 0; --i) {
            Tier memory t = _sets[h.currentSet][i - 1];
            // slither-disable-next-line timestamp
            if (s.active >= t.minStake && (t.minLock == 0 || s.lockedUntil >= block.timestamp + t.minLock)) {
                level = i;
                if (_spendRates[account] <= covered) discount = t.discountBps;
                break;
            }
        }
    }
}
