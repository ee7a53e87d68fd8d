// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {PlatformToken} from "../src/PlatformToken.sol";
import {StakingTiers} from "../src/StakingTiers.sol";
import {IStakingTiers} from "../src/interfaces/IStakingTiers.sol";
import {OwnedWallet} from "./EscrowSigning.sol";

/**
 * @dev Digests of the staking requests and platform-token permits built from the type strings written out here
 * (independently of the contract's typehashes), signed with forge keys.
 */
library StakingSigning {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    bytes32 internal constant STAKE_TYPEHASH =
        keccak256("StakeRequest(address account,uint256 amount,uint32 lockUntil,uint256 nonce,uint256 deadline)");
    bytes32 internal constant UNSTAKE_TYPEHASH =
        keccak256("UnstakeRequest(address account,uint256 amount,uint256 nonce,uint256 deadline)");
    bytes32 internal constant WITHDRAW_TYPEHASH = keccak256("WithdrawRequest(address account,uint256 nonce,uint256 deadline)");
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function _digest(StakingTiers staking, bytes32 structHash) private view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("CloudmarketStaking"),
                keccak256("1"),
                block.chainid,
                address(staking)
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function stakeDigest(StakingTiers staking, IStakingTiers.StakeRequest memory r) internal view returns (bytes32) {
        return _digest(staking, keccak256(abi.encode(STAKE_TYPEHASH, r.account, r.amount, r.lockUntil, r.nonce, r.deadline)));
    }

    function unstakeDigest(StakingTiers staking, IStakingTiers.UnstakeRequest memory r) internal view returns (bytes32) {
        return _digest(staking, keccak256(abi.encode(UNSTAKE_TYPEHASH, r.account, r.amount, r.nonce, r.deadline)));
    }

    function withdrawDigest(StakingTiers staking, IStakingTiers.WithdrawRequest memory r)
        internal
        view
        returns (bytes32)
    {
        return _digest(staking, keccak256(abi.encode(WITHDRAW_TYPEHASH, r.account, r.nonce, r.deadline)));
    }

    function sign(uint256 key, bytes32 hash) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    function permit(PlatformToken token, uint256 key, address spender, uint256 value, uint256 deadline)
        internal
        view
        returns (IStakingTiers.Permit memory p)
    {
        address owner = VM.addr(key);
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, token.nonces(owner), deadline));
        (p.v, p.r, p.s) = VM.sign(key, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        p.value = value;
        p.deadline = deadline;
    }
}

/// @dev The account's tokens, no ETH, no approve: every action by signature, sent by a relayer.
abstract contract StakingBySigBase is Test {
    uint256 internal constant UNIT = 1e18;
    uint256 internal constant COOLDOWN = 7 days;
    uint256 internal constant FUNDS = 1_000 * UNIT;
    PlatformToken internal ptoken;
    StakingTiers internal staking;
    address internal holder = makeAddr("holder");
    address internal relayer = makeAddr("relayer");
    address internal managed;
    uint256 internal managedKey;

    function _deploy() internal {
        vm.warp(1_750_000_000);
        (managed, managedKey) = makeAddrAndKey("managed");
        ptoken = new PlatformToken(holder, 1e9 * UNIT);
        staking = new StakingTiers(IERC20(address(ptoken)), makeAddr("admin"), COOLDOWN, 3 days);
        vm.prank(holder);
        ptoken.transfer(managed, FUNDS);
    }

    function _stakeReq(uint256 amount, uint32 lockUntil) internal view returns (IStakingTiers.StakeRequest memory) {
        return IStakingTiers.StakeRequest({
            account: managed,
            amount: amount,
            lockUntil: lockUntil,
            nonce: staking.nonces(managed),
            deadline: block.timestamp + 1 hours
        });
    }

    function _unstakeReq(uint256 amount) internal view returns (IStakingTiers.UnstakeRequest memory) {
        return IStakingTiers.UnstakeRequest({
            account: managed, amount: amount, nonce: staking.nonces(managed), deadline: block.timestamp + 1 hours
        });
    }

    function _withdrawReq() internal view returns (IStakingTiers.WithdrawRequest memory) {
        return IStakingTiers.WithdrawRequest({
            account: managed, nonce: staking.nonces(managed), deadline: block.timestamp + 1 hours
        });
    }

    function _permit(uint256 value) internal view returns (IStakingTiers.Permit memory) {
        return StakingSigning.permit(ptoken, managedKey, address(staking), value, block.timestamp + 1 hours);
    }

    function _noPermit() internal pure returns (IStakingTiers.Permit memory p) {}

    function _signStake(IStakingTiers.StakeRequest memory r) internal view returns (bytes memory) {
        return StakingSigning.sign(managedKey, StakingSigning.stakeDigest(staking, r));
    }

    function _signUnstake(IStakingTiers.UnstakeRequest memory r) internal view returns (bytes memory) {
        return StakingSigning.sign(managedKey, StakingSigning.unstakeDigest(staking, r));
    }

    function _signWithdraw(IStakingTiers.WithdrawRequest memory r) internal view returns (bytes memory) {
        return StakingSigning.sign(managedKey, StakingSigning.withdrawDigest(staking, r));
    }

    function _stakeBySig(uint256 amount, uint32 lockUntil) internal {
        IStakingTiers.StakeRequest memory r = _stakeReq(amount, lockUntil);
        IStakingTiers.Permit memory p = amount == 0 ? _noPermit() : _permit(amount);
        bytes memory sig = _signStake(r);
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
    }
}

contract StakingTiersBySigTest is StakingBySigBase {
    function setUp() public {
        _deploy();
    }

    function _nonceError(uint256 expected) internal view returns (bytes memory) {
        return abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, managed, expected);
    }

    // ---- happy path ---------------------------------------------------------------------------------------

    function test_Digests_MatchTheTypeStrings() public view {
        IStakingTiers.StakeRequest memory s = _stakeReq(5, 7);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(5);
        IStakingTiers.WithdrawRequest memory w = _withdrawReq();
        assertEq(staking.digestStakeRequest(s), StakingSigning.stakeDigest(staking, s));
        assertEq(staking.digestUnstakeRequest(u), StakingSigning.unstakeDigest(staking, u));
        assertEq(staking.digestWithdrawRequest(w), StakingSigning.withdrawDigest(staking, w));
        (, string memory name, string memory version,, address verifying,,) = staking.eip712Domain();
        assertEq(name, "CloudmarketStaking");
        assertEq(version, "1");
        assertEq(verifying, address(staking));
    }

    function test_FullCycle_ByPermitNoEthNoApprove() public {
        assertEq(managed.balance, 0);
        assertEq(ptoken.allowance(managed, address(staking)), 0);
        uint32 until = uint32(block.timestamp + 30 days);
        IStakingTiers.StakeRequest memory r = _stakeReq(100 * UNIT, until);
        IStakingTiers.Permit memory p = _permit(100 * UNIT);
        bytes memory sig = _signStake(r);
        vm.expectEmit(address(staking));
        emit IStakingTiers.Staked(managed, 100 * UNIT, 100 * UNIT, until);
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
        assertEq(ptoken.balanceOf(managed), FUNDS - 100 * UNIT);
        assertEq(ptoken.balanceOf(relayer), 0);
        assertEq(staking.stakeOf(managed).active, 100 * UNIT);
        assertEq(staking.stakeOf(managed).lockedUntil, until);
        assertEq(staking.nonces(managed), 1);

        vm.warp(until);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(40 * UNIT);
        bytes memory usig = _signUnstake(u);
        vm.expectEmit(address(staking));
        emit IStakingTiers.UnstakeRequested(managed, 40 * UNIT, 60 * UNIT, block.timestamp + COOLDOWN);
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, usig);
        assertEq(staking.nonces(managed), 2);

        vm.warp(block.timestamp + COOLDOWN);
        IStakingTiers.WithdrawRequest memory w = _withdrawReq();
        bytes memory wsig = _signWithdraw(w);
        vm.expectEmit(address(staking));
        emit IStakingTiers.Withdrawn(managed, 40 * UNIT);
        vm.prank(relayer);
        staking.withdrawBySig(w, wsig);
        // The tokens went back to the account, never to the sender.
        assertEq(ptoken.balanceOf(managed), FUNDS - 60 * UNIT);
        assertEq(ptoken.balanceOf(relayer), 0);
        assertEq(staking.stakeOf(managed).cooling, 0);
        assertEq(staking.nonces(managed), 3);
    }

    function test_LockOnly_NeedsNoPermit() public {
        _stakeBySig(10 * UNIT, 0);
        uint32 until = uint32(block.timestamp + 10 days);
        _stakeBySig(0, until);
        assertEq(staking.stakeOf(managed).lockedUntil, until);
        assertEq(staking.stakeOf(managed).active, 10 * UNIT);
    }

    function test_ExistingAllowance_NoPermit() public {
        vm.prank(managed);
        ptoken.approve(address(staking), 5 * UNIT);
        IStakingTiers.StakeRequest memory r = _stakeReq(5 * UNIT, 0);
        bytes memory sig = _signStake(r);
        vm.prank(relayer);
        staking.stakeBySig(r, _noPermit(), sig);
        assertEq(staking.stakeOf(managed).active, 5 * UNIT);
    }

    // ---- signature checks ---------------------------------------------------------------------------------

    function test_Replay_Reverts() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        IStakingTiers.Permit memory p = _permit(20 * UNIT);
        bytes memory sig = _signStake(r);
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
        vm.expectRevert(_nonceError(1));
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
        assertEq(staking.stakeOf(managed).active, 10 * UNIT);
    }

    function test_ReplayOfUnstake_Reverts() public {
        _stakeBySig(10 * UNIT, 0);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(1 * UNIT);
        bytes memory sig = _signUnstake(u);
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, sig);
        vm.expectRevert(_nonceError(2));
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, sig);
        assertEq(staking.stakeOf(managed).cooling, 1 * UNIT);
    }

    function test_Expired_Reverts() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        IStakingTiers.Permit memory p = _permit(10 * UNIT);
        bytes memory sig = _signStake(r);
        vm.warp(r.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.ExpiredSignature.selector, r.deadline));
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
    }

    function test_Expired_IsInclusive() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        IStakingTiers.Permit memory p = _permit(10 * UNIT);
        bytes memory sig = _signStake(r);
        vm.warp(r.deadline);
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
        assertEq(staking.stakeOf(managed).active, 10 * UNIT);
    }

    function test_WrongSigner_Reverts() public {
        (, uint256 otherKey) = makeAddrAndKey("other");
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        IStakingTiers.Permit memory p = _permit(10 * UNIT);
        bytes memory sig = StakingSigning.sign(otherKey, StakingSigning.stakeDigest(staking, r));
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.InvalidSigner.selector, managed));
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
        IStakingTiers.WithdrawRequest memory w = _withdrawReq();
        bytes memory wsig = StakingSigning.sign(otherKey, StakingSigning.withdrawDigest(staking, w));
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.InvalidSigner.selector, managed));
        vm.prank(relayer);
        staking.withdrawBySig(w, wsig);
    }

    function test_SignatureForAnotherKind_Reverts() public {
        _stakeBySig(10 * UNIT, 0);
        // A withdraw request signed, submitted as... nothing else fits its digest: an unstake with the same
        // nonce and deadline is a different struct.
        IStakingTiers.WithdrawRequest memory w = _withdrawReq();
        bytes memory wsig = _signWithdraw(w);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(1);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.InvalidSigner.selector, managed));
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, wsig);
    }

    function test_WrongNonce_Reverts() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        r.nonce = 1; // skips 0
        IStakingTiers.Permit memory p = _permit(10 * UNIT);
        bytes memory sig = _signStake(r);
        vm.expectRevert(_nonceError(0));
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
    }

    function test_OneNonceSequenceForAllKinds() public {
        _stakeBySig(10 * UNIT, 0);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(1);
        IStakingTiers.WithdrawRequest memory w = _withdrawReq(); // same nonce 1 as u
        w.deadline = block.timestamp + COOLDOWN + 1 hours;
        bytes memory usig = _signUnstake(u);
        bytes memory wsig = _signWithdraw(w);
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, usig);
        vm.warp(block.timestamp + COOLDOWN);
        vm.expectRevert(_nonceError(2));
        vm.prank(relayer);
        staking.withdrawBySig(w, wsig);
    }

    function test_DirectCallsDoNotUseNonces() public {
        vm.startPrank(managed);
        ptoken.approve(address(staking), UNIT);
        staking.stake(UNIT, 0);
        vm.stopPrank();
        assertEq(staking.nonces(managed), 0);
    }

    // ---- permit -------------------------------------------------------------------------------------------

    function test_FrontRunPermit_Tolerated() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        IStakingTiers.Permit memory p = _permit(10 * UNIT);
        bytes memory sig = _signStake(r);
        ptoken.permit(managed, address(staking), p.value, p.deadline, p.v, p.r, p.s); // someone submits it first
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
        assertEq(staking.stakeOf(managed).active, 10 * UNIT);
    }

    function test_FailedPermitWithoutAllowance_Reverts() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        IStakingTiers.Permit memory p = _permit(10 * UNIT);
        p.v ^= 1; // broken
        bytes memory sig = _signStake(r);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.PermitFailed.selector, managed, 0, 10 * UNIT));
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
        assertEq(staking.nonces(managed), 0); // reverted: the nonce is still unused
    }

    function test_PermitForLessThanTheStake_Reverts() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, 0);
        IStakingTiers.Permit memory p = _permit(5 * UNIT);
        bytes memory sig = _signStake(r);
        vm.expectRevert(); // ERC20InsufficientAllowance from the pull
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
    }

    // ---- the direct calls' rules, through the by-signature path ---------------------------------------------

    function test_Rule_ZeroAmount() public {
        IStakingTiers.StakeRequest memory r = _stakeReq(0, 0);
        bytes memory sig = _signStake(r);
        vm.expectRevert(IStakingTiers.ZeroAmount.selector);
        vm.prank(relayer);
        staking.stakeBySig(r, _noPermit(), sig);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(0);
        bytes memory usig = _signUnstake(u);
        vm.expectRevert(IStakingTiers.ZeroAmount.selector);
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, usig);
    }

    function test_Rule_LockOnlyExtendsAndIsBounded() public {
        uint32 until = uint32(block.timestamp + 30 days);
        _stakeBySig(UNIT, until);
        IStakingTiers.StakeRequest memory r = _stakeReq(0, until - 1);
        bytes memory sig = _signStake(r);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStakingTiers.InvalidLock.selector, until - 1, until, block.timestamp + staking.MAX_LOCK()
            )
        );
        vm.prank(relayer);
        staking.stakeBySig(r, _noPermit(), sig);
        uint256 tooFar = block.timestamp + staking.MAX_LOCK() + 1;
        r = _stakeReq(0, uint32(tooFar));
        sig = _signStake(r);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.InvalidLock.selector, tooFar, until, tooFar - 1));
        vm.prank(relayer);
        staking.stakeBySig(r, _noPermit(), sig);
    }

    function test_Rule_LockedStakeCannotBeUnstaked() public {
        uint32 until = uint32(block.timestamp + 30 days);
        _stakeBySig(10 * UNIT, until);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(UNIT);
        bytes memory sig = _signUnstake(u);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.StakeLocked.selector, until));
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, sig);
    }

    function test_Rule_NoMoreThanActive() public {
        _stakeBySig(10 * UNIT, 0);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(10 * UNIT + 1);
        bytes memory sig = _signUnstake(u);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.InsufficientStake.selector, 10 * UNIT, 10 * UNIT + 1));
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, sig);
    }

    function test_Rule_CooldownAndNothingToWithdraw() public {
        IStakingTiers.WithdrawRequest memory w = _withdrawReq();
        bytes memory wsig = _signWithdraw(w);
        vm.expectRevert(IStakingTiers.NothingToWithdraw.selector);
        vm.prank(relayer);
        staking.withdrawBySig(w, wsig);

        _stakeBySig(10 * UNIT, 0);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(4 * UNIT);
        bytes memory usig = _signUnstake(u);
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, usig);
        uint256 end = block.timestamp + COOLDOWN;
        w = _withdrawReq();
        w.deadline = end + 1 hours;
        wsig = _signWithdraw(w);
        vm.warp(end - 1);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.CooldownNotOver.selector, end));
        vm.prank(relayer);
        staking.withdrawBySig(w, wsig);
        vm.warp(end);
        vm.prank(relayer);
        staking.withdrawBySig(w, wsig);
        assertEq(ptoken.balanceOf(managed), FUNDS - 6 * UNIT);
        // Withdrawn once: a second (fresh) request finds nothing.
        w = _withdrawReq();
        wsig = _signWithdraw(w);
        vm.expectRevert(IStakingTiers.NothingToWithdraw.selector);
        vm.prank(relayer);
        staking.withdrawBySig(w, wsig);
    }

    // ---- EIP-1271 contract wallet -------------------------------------------------------------------------

    function test_ContractWalletAccount() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("wallet-owner");
        OwnedWallet wallet = new OwnedWallet(owner);
        vm.prank(holder);
        ptoken.transfer(address(wallet), 10 * UNIT);
        vm.prank(owner);
        wallet.execute(address(ptoken), abi.encodeCall(ptoken.approve, (address(staking), type(uint256).max)));
        IStakingTiers.StakeRequest memory r = IStakingTiers.StakeRequest({
            account: address(wallet), amount: 10 * UNIT, lockUntil: 0, nonce: 0, deadline: block.timestamp
        });
        bytes memory bad = StakingSigning.sign(managedKey, StakingSigning.stakeDigest(staking, r));
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.InvalidSigner.selector, address(wallet)));
        vm.prank(relayer);
        staking.stakeBySig(r, _noPermit(), bad);
        vm.prank(relayer);
        staking.stakeBySig(r, _noPermit(), StakingSigning.sign(ownerKey, StakingSigning.stakeDigest(staking, r)));
        assertEq(staking.stakeOf(address(wallet)).active, 10 * UNIT);
    }

    // ---- fuzz ---------------------------------------------------------------------------------------------

    /// Any field changed after signing (account, amount, lockUntil, nonce, deadline) is refused.
    function testFuzz_TamperedStakeRequestReverts(uint8 field, uint256 delta) public {
        delta = bound(delta, 1, type(uint32).max);
        IStakingTiers.StakeRequest memory r = _stakeReq(10 * UNIT, uint32(block.timestamp + 10 days));
        bytes memory sig = _signStake(r);
        IStakingTiers.Permit memory p = _permit(FUNDS);
        field = field % 5;
        if (field == 0) r.account = address(uint160(r.account) ^ uint160(delta));
        else if (field == 1) r.amount -= delta % r.amount == 0 ? 1 : delta % r.amount;
        else if (field == 2) r.lockUntil += uint32(delta % 1 days) + 1;
        else if (field == 3) r.nonce += delta;
        else r.deadline += delta;
        vm.expectRevert();
        vm.prank(relayer);
        staking.stakeBySig(r, p, sig);
    }
}

/**
 * @dev By-signature gas as FULL TRANSACTIONS (isolation mode, like `StakingTiers.gas.t.sol`): the relayer sends,
 * the account holds tokens and no allowance, the stake carries a permit for exactly its amount (allowance 0 -> x
 * -> 0, the token's permit nonce 0 -> 1 on first use). The contract already holds others' stake (the deploy seed).
 */
contract StakingBySigGasTest is StakingBySigBase {
    function setUp() public {
        _deploy();
        address other = makeAddr("other");
        vm.prank(holder);
        ptoken.transfer(other, 1);
        vm.startPrank(other);
        ptoken.approve(address(staking), 1);
        staking.stake(1, 0); // the deploy's seed stake
        vm.stopPrank();
    }

    function _gas(bytes memory data, string memory name) internal returns (uint256 gas) {
        vm.prank(relayer);
        (bool ok,) = address(staking).call(data);
        assertTrue(ok, name);
        gas = vm.lastCallGas().gasTotalUsed;
        emit log_named_uint(name, gas);
    }

    function _stakeCall(uint256 amount) internal view returns (bytes memory) {
        IStakingTiers.StakeRequest memory r = _stakeReq(amount, 0);
        return abi.encodeCall(staking.stakeBySig, (r, _permit(amount), _signStake(r)));
    }

    /// forge-config: default.isolate = true
    function test_Gas_StakeBySigFirst() public {
        assertLe(_gas(_stakeCall(100 * UNIT), "stakeBySig first (permit)"), 135_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_StakeBySigAgain() public {
        _stakeBySig(100 * UNIT, 0);
        assertLe(_gas(_stakeCall(100 * UNIT), "stakeBySig again (permit)"), 85_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_RequestUnstakeBySig() public {
        _stakeBySig(100 * UNIT, 0);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(10 * UNIT);
        assertLe(_gas(abi.encodeCall(staking.requestUnstakeBySig, (u, _signUnstake(u))), "requestUnstakeBySig"), 50_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_WithdrawBySig() public {
        _stakeBySig(100 * UNIT, 0);
        IStakingTiers.UnstakeRequest memory u = _unstakeReq(10 * UNIT);
        bytes memory usig = _signUnstake(u);
        vm.prank(relayer);
        staking.requestUnstakeBySig(u, usig);
        vm.warp(block.timestamp + COOLDOWN);
        IStakingTiers.WithdrawRequest memory w = _withdrawReq();
        assertLe(_gas(abi.encodeCall(staking.withdrawBySig, (w, _signWithdraw(w))), "withdrawBySig"), 65_000);
    }
}
