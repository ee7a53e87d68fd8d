// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PlatformToken} from "../src/PlatformToken.sol";
import {StakingTiers} from "../src/StakingTiers.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {IStakingTiers} from "../src/interfaces/IStakingTiers.sol";
import {MarketplaceFixture} from "./MarketplaceFixture.sol";

/// @dev Platform token, staking and the real marketplace (escrow reads the staking contract as its oracle).
abstract contract StakingFixture is MarketplaceFixture {
    uint256 internal constant COOLDOWN = 7 days;
    uint256 internal constant TIER_DELAY = 3 days;
    uint256 internal constant UNIT = 1e18;
    /// Each whole token staked covers 1,000 credit units per second (0.001 credit/s).
    uint96 internal constant COVER = 1e3;

    PlatformToken internal ptoken;
    StakingTiers internal staking;
    address internal tierOperator = makeAddr("tierOperator");
    address internal reporter = makeAddr("reporter");
    address internal holder = makeAddr("holder");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function _deployStaking() internal {
        _deployMarketplace();
        ptoken = new PlatformToken(holder, 1e9 * UNIT);
        staking = new StakingTiers(IERC20(address(ptoken)), admin, COOLDOWN, TIER_DELAY);
        vm.startPrank(admin);
        staking.grantRole(staking.OPERATOR_ROLE(), tierOperator);
        staking.grantRole(staking.SPEND_REPORTER_ROLE(), reporter);
        escrow.setDiscountOracle(address(staking));
        vm.stopPrank();
        _fundStaker(alice, 1e6 * UNIT);
        _fundStaker(bob, 1e6 * UNIT);
    }

    function _fundStaker(address who, uint256 amount) internal {
        vm.prank(holder);
        ptoken.transfer(who, amount);
        vm.prank(who);
        ptoken.approve(address(staking), type(uint256).max);
    }

    /// Bronze 1,000 tokens 10%; silver 10,000 tokens 20%; gold 10,000 tokens locked 180 days 40%.
    function _threeTiers() internal pure returns (IStakingTiers.Tier[] memory t) {
        t = new IStakingTiers.Tier[](3);
        t[0] = IStakingTiers.Tier({minStake: uint96(1_000 * UNIT), minLock: 0, discountBps: 1_000});
        t[1] = IStakingTiers.Tier({minStake: uint96(10_000 * UNIT), minLock: 0, discountBps: 2_000});
        t[2] = IStakingTiers.Tier({minStake: uint96(10_000 * UNIT + 1), minLock: 180 days, discountBps: 4_000});
    }

    function _activate(IStakingTiers.Tier[] memory t, uint96 cover) internal {
        vm.prank(tierOperator);
        staking.scheduleTiers(t, cover);
        vm.warp(block.timestamp + TIER_DELAY);
    }

    function _stake(address who, uint256 amount, uint32 lockUntil) internal {
        vm.prank(who);
        staking.stake(amount, lockUntil);
    }

    function _report(address who, uint256 rate) internal {
        address[] memory a = new address[](1);
        uint256[] memory r = new uint256[](1);
        (a[0], r[0]) = (who, rate);
        vm.prank(reporter);
        staking.reportSpendRates(a, r);
    }
}

contract StakingTiersTest is StakingFixture {
    function setUp() public {
        _deployStaking();
        _registerApproved(provider, MIN_COLLATERAL);
        node = _addNode(provider, address(0));
        _activate(_threeTiers(), COVER);
    }

    // ---- staking money rules ----------------------------------------------------------------------------

    function test_Stake_MovesTokensAndRecords() public {
        vm.expectEmit(address(staking));
        emit IStakingTiers.Staked(alice, 5 * UNIT, 5 * UNIT, 0);
        _stake(alice, 5 * UNIT, 0);
        assertEq(ptoken.balanceOf(address(staking)), 5 * UNIT);
        assertEq(staking.stakeOf(alice).active, 5 * UNIT);
    }

    function test_Stake_ZeroAmountWithoutLockReverts() public {
        vm.expectRevert(IStakingTiers.ZeroAmount.selector);
        _stake(alice, 0, 0);
    }

    function test_Stake_Overflow96Reverts() public {
        vm.prank(holder);
        ptoken.transfer(alice, 1e8 * UNIT);
        uint256 max = type(uint96).max;
        _stake(alice, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.AmountTooLarge.selector, max + 1, max));
        _stake(alice, max, 0);
    }

    function test_Stake_ActivePlusCoolingStaysBelow2To96() public {
        PlatformToken big = new PlatformToken(alice, type(uint256).max);
        StakingTiers s = new StakingTiers(IERC20(address(big)), admin, COOLDOWN, TIER_DELAY);
        uint256 max = type(uint96).max;
        vm.startPrank(alice);
        big.approve(address(s), type(uint256).max);
        s.stake(max, 0);
        s.requestUnstake(max); // all of it cooling
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.AmountTooLarge.selector, max + 1, max));
        s.stake(1, 0); // would let a second request wrap the cooling amount
        vm.stopPrank();
        assertEq(s.stakeOf(alice).cooling, max);
    }

    function test_Lock_OnlyExtendsAndIsBounded() public {
        uint32 until = uint32(block.timestamp + 30 days);
        _stake(alice, UNIT, until);
        assertEq(staking.stakeOf(alice).lockedUntil, until);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStakingTiers.InvalidLock.selector, until - 1, until, block.timestamp + staking.MAX_LOCK()
            )
        );
        _stake(alice, 0, until - 1);
        uint256 tooFar = block.timestamp + staking.MAX_LOCK() + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IStakingTiers.InvalidLock.selector, tooFar, until, tooFar - 1)
        );
        _stake(alice, 0, uint32(tooFar));
        _stake(alice, 0, until + 1); // lock only
        assertEq(staking.stakeOf(alice).lockedUntil, until + 1);
        assertEq(staking.stakeOf(alice).active, UNIT);
    }

    function test_RequestUnstake_WhileLockedReverts() public {
        uint32 until = uint32(block.timestamp + 30 days);
        _stake(alice, UNIT, until);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.StakeLocked.selector, until));
        vm.prank(alice);
        staking.requestUnstake(UNIT);
        vm.warp(until);
        vm.prank(alice);
        staking.requestUnstake(UNIT);
        assertEq(staking.stakeOf(alice).cooling, UNIT);
    }

    function test_RequestUnstake_MoreThanActiveReverts() public {
        _stake(alice, UNIT, 0);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.InsufficientStake.selector, UNIT, UNIT + 1));
        vm.prank(alice);
        staking.requestUnstake(UNIT + 1);
    }

    function test_Withdraw_OnlyAfterCooldownAndOnce() public {
        _stake(alice, 10 * UNIT, 0);
        vm.prank(alice);
        staking.requestUnstake(4 * UNIT);
        uint256 end = block.timestamp + COOLDOWN;
        assertEq(staking.stakeOf(alice).coolingEnd, end);
        vm.warp(end - 1);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.CooldownNotOver.selector, end));
        vm.prank(alice);
        staking.withdraw();
        vm.warp(end);
        uint256 before = ptoken.balanceOf(alice);
        vm.prank(alice);
        staking.withdraw();
        assertEq(ptoken.balanceOf(alice), before + 4 * UNIT);
        assertEq(staking.stakeOf(alice).active, 6 * UNIT);
        vm.expectRevert(IStakingTiers.NothingToWithdraw.selector);
        vm.prank(alice);
        staking.withdraw();
    }

    function test_RequestUnstake_RestartsCooldownForAllCooling() public {
        _stake(alice, 10 * UNIT, 0);
        vm.prank(alice);
        staking.requestUnstake(UNIT);
        vm.warp(block.timestamp + COOLDOWN - 1);
        vm.prank(alice);
        staking.requestUnstake(UNIT);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.CooldownNotOver.selector, block.timestamp + COOLDOWN - 1));
        vm.prank(alice);
        staking.withdraw();
    }

    // ---- tiers and the discount -------------------------------------------------------------------------

    function test_Tier_ByActiveStakeOnly() public {
        _stake(alice, 10_000 * UNIT, 0);
        (uint256 level,, uint256 discount) = staking.tierOf(alice);
        assertEq(level, 2);
        assertEq(discount, 2_000);
        vm.prank(alice);
        staking.requestUnstake(9_001 * UNIT); // cooling stake counts for nothing
        (level,, discount) = staking.tierOf(alice);
        assertEq(level, 0);
        assertEq(discount, 0);
        assertEq(staking.discountBps(alice), 0);
    }

    function test_Tier_LockTierNeedsRemainingLock() public {
        _stake(alice, 20_000 * UNIT, uint32(block.timestamp + 200 days));
        assertEq(staking.discountBps(alice), 4_000);
        vm.warp(block.timestamp + 20 days + 1); // 180 days - 1 s of lock left
        assertEq(staking.discountBps(alice), 2_000);
    }

    function test_Discount_NeedsSpendCoveredByStake() public {
        _stake(alice, 10_000 * UNIT, 0); // covers 10_000 tokens * 1e3 = 1e7 units/s (10 credit/s)
        (, uint256 covered,) = staking.tierOf(alice);
        assertEq(covered, 10_000 * uint256(COVER));
        _report(alice, covered);
        assertEq(staking.discountBps(alice), 2_000);
        _report(alice, covered + 1);
        assertEq(staking.discountBps(alice), 0);
    }

    function test_Tiers_TakeEffectOnlyAfterDelay() public {
        _stake(alice, 1_000 * UNIT, 0);
        IStakingTiers.Tier[] memory t = new IStakingTiers.Tier[](1);
        t[0] = IStakingTiers.Tier({minStake: uint96(UNIT), minLock: 0, discountBps: 5_000});
        vm.prank(tierOperator);
        staking.scheduleTiers(t, COVER);
        (IStakingTiers.Tier[] memory pending,, uint256 at) = staking.pendingTiers();
        assertEq(pending.length, 1);
        assertEq(at, block.timestamp + TIER_DELAY);
        vm.warp(at - 1);
        assertEq(staking.discountBps(alice), 1_000);
        (IStakingTiers.Tier[] memory current,) = staking.tiers();
        assertEq(current.length, 3);
        vm.warp(at);
        assertEq(staking.discountBps(alice), 5_000);
        (current,) = staking.tiers();
        assertEq(current.length, 1);
        (pending,, at) = staking.pendingTiers();
        assertEq(pending.length, 0);
        assertEq(at, 0);
    }

    function test_Tiers_ReplacingPendingRestartsDelayAndKeepsCurrent() public {
        _stake(alice, 1_000 * UNIT, 0);
        IStakingTiers.Tier[] memory t = new IStakingTiers.Tier[](1);
        t[0] = IStakingTiers.Tier({minStake: uint96(UNIT), minLock: 0, discountBps: 5_000});
        vm.prank(tierOperator);
        staking.scheduleTiers(t, COVER);
        vm.warp(block.timestamp + TIER_DELAY - 1);
        t[0].discountBps = 6_000;
        vm.prank(tierOperator);
        staking.scheduleTiers(t, COVER);
        vm.warp(block.timestamp + 1);
        assertEq(staking.discountBps(alice), 1_000); // still the original set
        vm.warp(block.timestamp + TIER_DELAY);
        assertEq(staking.discountBps(alice), 6_000);
        // A later schedule promotes the set in force first: the new pending set goes to the other slot.
        t[0].discountBps = 100;
        vm.prank(tierOperator);
        staking.scheduleTiers(t, COVER);
        assertEq(staking.discountBps(alice), 6_000);
    }

    function test_Tiers_Bounds() public {
        IStakingTiers.Tier[] memory t = new IStakingTiers.Tier[](2);
        t[0] = IStakingTiers.Tier({minStake: uint96(UNIT), minLock: 0, discountBps: 6_001});
        t[1] = IStakingTiers.Tier({minStake: uint96(2 * UNIT), minLock: 0, discountBps: 100});
        vm.startPrank(tierOperator);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.DiscountTooHigh.selector, 6_001, 6_000));
        staking.scheduleTiers(t, COVER);
        t[0].discountBps = 6_000;
        t[1].minStake = uint96(UNIT);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.TiersNotAscending.selector, 1));
        staking.scheduleTiers(t, COVER);
        t[1].minStake = uint96(2 * UNIT);
        t[1].minLock = uint32(staking.MAX_LOCK() + 1);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.LockTooLong.selector, staking.MAX_LOCK() + 1, staking.MAX_LOCK()));
        staking.scheduleTiers(t, COVER);
        t[1].minLock = 0;
        vm.expectRevert(IStakingTiers.ZeroCoverPerToken.selector);
        staking.scheduleTiers(t, 0);
        IStakingTiers.Tier[] memory many = new IStakingTiers.Tier[](7);
        for (uint256 i = 0; i < 7; ++i) {
            many[i] = IStakingTiers.Tier({minStake: uint96((i + 1) * UNIT), minLock: 0, discountBps: 100});
        }
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.TooManyTiers.selector, 7, 6));
        staking.scheduleTiers(many, COVER);
        t[0].minStake = 0;
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.TiersNotAscending.selector, 0));
        staking.scheduleTiers(t, COVER);
        vm.stopPrank();
    }

    function test_Roles() public {
        IStakingTiers.Tier[] memory t = new IStakingTiers.Tier[](0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, staking.OPERATOR_ROLE()
            )
        );
        vm.prank(alice);
        staking.scheduleTiers(t, 0);
        address[] memory a = new address[](1);
        uint256[] memory r = new uint256[](1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, staking.SPEND_REPORTER_ROLE()
            )
        );
        vm.prank(alice);
        staking.reportSpendRates(a, r);
        vm.expectRevert(abi.encodeWithSelector(IStakingTiers.LengthMismatch.selector, 1, 0));
        vm.prank(reporter);
        staking.reportSpendRates(a, new uint256[](0));
    }

    // ---- the escrow applies it --------------------------------------------------------------------------

    function test_Escrow_OpenAppliesStakersDiscount() public {
        _fundStaker(payer, 20_000 * UNIT);
        _fundPayer(payer, 100e6);
        _stake(payer, 10_000 * UNIT, 0);
        uint256 lease = _open(payer, node, 1_001, 10e6);
        (,, uint256 rate,,) = _lease(lease);
        assertEq(rate, 801); // ceil(1_001 * 0.8)
        // Spend beyond the stake's coverage: no discount on the next open.
        _report(payer, 10_000 * uint256(COVER) + 1);
        lease = _open(payer, node, 1_001, 10e6);
        (,, rate,,) = _lease(lease);
        assertEq(rate, 1_001);
    }

    function test_Escrow_CapsA60PercentTierAtItsOwnMax() public {
        IStakingTiers.Tier[] memory t = new IStakingTiers.Tier[](1);
        t[0] = IStakingTiers.Tier({minStake: uint96(UNIT), minLock: 0, discountBps: 6_000});
        _activate(t, COVER);
        _fundStaker(payer, 10 * UNIT);
        _fundPayer(payer, 100e6);
        _stake(payer, UNIT, 0);
        assertEq(staking.discountBps(payer), 6_000);
        uint256 lease = _open(payer, node, 1_000, 10e6);
        (,, uint256 rate,,) = _lease(lease);
        assertEq(rate, 1_000 * (10_000 - escrow.MAX_DISCOUNT_BPS()) / 10_000);
    }

    /// forge-config: default.isolate = true
    function test_Escrow_OracleFitsItsGasCapWithMaxTiersCold() public {
        IStakingTiers.Tier[] memory t = new IStakingTiers.Tier[](6);
        for (uint256 i = 0; i < 6; ++i) {
            t[i] = IStakingTiers.Tier({minStake: uint96((i + 1) * 1_000 * UNIT), minLock: 0, discountBps: uint16(100 * (i + 1))});
        }
        _activate(t, COVER);
        _fundStaker(payer, 1_000 * UNIT);
        _fundPayer(payer, 100e6);
        _stake(payer, 1_000 * UNIT, 0); // lowest tier: the oracle reads every tier slot
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, 1_000, keccak256("spec"));
        vm.prank(payer);
        uint256 lease = escrow.open(node, 1_000, 10e6, keccak256("spec"), q);
        (,, uint256 rate,,) = _lease(lease);
        // The open ran as its own transaction (isolated: every slot cold); the oracle read the header, the stake,
        // all six tiers and the spend rate within the escrow's 30,000-gas cap, or there would be no discount.
        assertEq(rate, 990);
    }

    function _lease(uint256 id) internal view returns (address, uint64, uint256, uint256, uint256) {
        IDeploymentEscrow.LeaseView memory l = escrow.lease(id);
        return (l.payer, l.nodeId, l.ratePerSecond, l.balance, l.settledAt);
    }

    // ---- fuzz ---------------------------------------------------------------------------------------------

    function testFuzz_DiscountMatchesFormula(uint96 stakeAmt, uint32 lockFor, uint64 spend, uint32 later) public {
        stakeAmt = uint96(bound(stakeAmt, 1, 100_000 * UNIT));
        lockFor = uint32(bound(lockFor, 0, 365 days));
        later = uint32(bound(later, 0, 400 days));
        _fundStaker(payer, 100_000 * UNIT);
        _stake(payer, stakeAmt, lockFor == 0 ? 0 : uint32(block.timestamp + lockFor));
        _report(payer, spend);
        vm.warp(block.timestamp + later);
        uint256 covered = uint256(stakeAmt) * COVER / UNIT;
        uint256 lockedFor = lockFor > later ? lockFor - later : 0;
        uint256 expected = 0;
        if (spend <= covered) {
            if (stakeAmt > 10_000 * UNIT && lockFor != 0 && lockedFor >= 180 days) expected = 4_000;
            else if (stakeAmt >= 10_000 * UNIT) expected = 2_000;
            else if (stakeAmt >= 1_000 * UNIT) expected = 1_000;
        }
        assertEq(staking.discountBps(payer), expected);
    }

    function testFuzz_UnstakeWithdrawReturnsExactlyWhatWasStaked(uint96 a, uint96 b, uint96 out) public {
        a = uint96(bound(a, 1, 500_000 * UNIT));
        b = uint96(bound(b, 0, 500_000 * UNIT));
        out = uint96(bound(out, 1, uint256(a) + b));
        uint256 start = ptoken.balanceOf(alice);
        _stake(alice, a, 0);
        if (b != 0) _stake(alice, b, 0);
        vm.prank(alice);
        staking.requestUnstake(out);
        vm.warp(block.timestamp + COOLDOWN);
        vm.prank(alice);
        staking.withdraw();
        assertEq(ptoken.balanceOf(alice), start - a - b + out);
        assertEq(ptoken.balanceOf(address(staking)), uint256(a) + b - out);
        assertEq(staking.stakeOf(alice).active, uint256(a) + b - out);
    }
}
