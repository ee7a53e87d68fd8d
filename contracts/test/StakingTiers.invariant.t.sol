// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PlatformToken} from "../src/PlatformToken.sol";
import {StakingTiers} from "../src/StakingTiers.sol";
import {IStakingTiers} from "../src/interfaces/IStakingTiers.sol";

/// @dev Drives stake (with and without locks), unstake requests, withdrawals, tier schedules, spend reports and
/// time; keeps ghost totals per staker and the schedule history (what set must be in force when).
contract StakingHandler is CommonBase, StdCheats, StdUtils {
    uint256 internal constant UNIT = 1e18;
    PlatformToken public immutable ptoken;
    StakingTiers public immutable staking;
    address public immutable operator;
    address public immutable reporter;
    address[4] public stakers;
    mapping(address staker => uint256 amount) public stakedIn;
    mapping(address staker => uint256 amount) public withdrawnOut;
    /// Discount of tier 1 of the set in force and of the set scheduled, and when the scheduled one applies.
    uint256 public ghostCurrentDiscount;
    uint256 public ghostPendingDiscount;
    uint256 public ghostActivatesAt;
    bool public ghostHasCurrent;

    constructor(PlatformToken t, StakingTiers s, address op, address rep) {
        (ptoken, staking, operator, reporter) = (t, s, op, rep);
        for (uint256 i = 0; i < 4; ++i) {
            stakers[i] = address(uint160(0x5000 + i));
        }
    }

    function approveAll(address who) external {
        vm.prank(who);
        ptoken.approve(address(staking), type(uint256).max);
    }

    function stake(uint256 who, uint256 amount, uint256 lockFor) external {
        address s = stakers[who % 4];
        amount = bound(amount, 0, ptoken.balanceOf(s));
        lockFor = bound(lockFor, 0, 400 days);
        uint32 until = 0;
        if (lockFor != 0) until = uint32(block.timestamp + lockFor);
        if (until != 0 && until <= staking.stakeOf(s).lockedUntil) until = 0;
        if (amount == 0 && until == 0) return;
        vm.prank(s);
        staking.stake(amount, until);
        stakedIn[s] += amount;
    }

    function requestUnstake(uint256 who, uint256 amount) external {
        address s = stakers[who % 4];
        IStakingTiers.Stake memory st = staking.stakeOf(s);
        if (st.active == 0 || st.lockedUntil > block.timestamp) return;
        amount = bound(amount, 1, st.active);
        vm.prank(s);
        staking.requestUnstake(amount);
    }

    function withdraw(uint256 who) external {
        address s = stakers[who % 4];
        IStakingTiers.Stake memory st = staking.stakeOf(s);
        if (st.cooling == 0 || block.timestamp < st.coolingEnd) return;
        uint256 before = ptoken.balanceOf(s);
        vm.prank(s);
        staking.withdraw();
        withdrawnOut[s] += ptoken.balanceOf(s) - before;
    }

    /// Any call, even one that should revert: a withdrawal before the cooldown or above the stake must fail.
    function tryWithdrawAnyway(uint256 who) external {
        address s = stakers[who % 4];
        uint256 before = ptoken.balanceOf(s);
        vm.prank(s);
        try staking.withdraw() {} catch {}
        withdrawnOut[s] += ptoken.balanceOf(s) - before;
    }

    function tryUnstakeAnyway(uint256 who, uint256 amount) external {
        vm.prank(stakers[who % 4]);
        try staking.requestUnstake(amount) {} catch {}
    }

    function schedule(uint16 discount) external {
        _promote();
        discount = uint16(bound(discount, 1, 6_000));
        IStakingTiers.Tier[] memory t = new IStakingTiers.Tier[](1);
        t[0] = IStakingTiers.Tier({minStake: uint96(UNIT), minLock: 0, discountBps: discount});
        vm.prank(operator);
        staking.scheduleTiers(t, 1e27);
        ghostPendingDiscount = discount;
        ghostActivatesAt = block.timestamp + staking.tierDelay();
    }

    function report(uint256 who, uint256 rate) external {
        address[] memory a = new address[](1);
        uint256[] memory r = new uint256[](1);
        (a[0], r[0]) = (stakers[who % 4], bound(rate, 0, 1e12));
        vm.prank(reporter);
        staking.reportSpendRates(a, r);
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 10 days));
    }

    /// @dev The set the schedule history puts in force now: the pending one once its time has come.
    function _promote() internal {
        if (ghostActivatesAt != 0 && block.timestamp >= ghostActivatesAt) {
            ghostCurrentDiscount = ghostPendingDiscount;
            ghostHasCurrent = true;
            ghostActivatesAt = 0;
        }
    }

    function expectedTier1Discount() external returns (bool has, uint256 discount) {
        _promote();
        return (ghostHasCurrent, ghostCurrentDiscount);
    }
}

contract StakingTiersInvariantTest is Test {
    PlatformToken internal ptoken;
    StakingTiers internal staking;
    StakingHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        address admin = makeAddr("admin");
        ptoken = new PlatformToken(address(this), 1e12 * 1e18);
        staking = new StakingTiers(IERC20(address(ptoken)), admin, 7 days, 3 days);
        handler = new StakingHandler(ptoken, staking, makeAddr("operator"), makeAddr("reporter"));
        vm.startPrank(admin);
        staking.grantRole(staking.OPERATOR_ROLE(), makeAddr("operator"));
        staking.grantRole(staking.SPEND_REPORTER_ROLE(), makeAddr("reporter"));
        vm.stopPrank();
        for (uint256 i = 0; i < 4; ++i) {
            address s = handler.stakers(i);
            ptoken.transfer(s, 1e6 * 1e18);
            handler.approveAll(s);
        }
        bytes4[] memory selectors = new bytes4[](9);
        selectors[0] = StakingHandler.stake.selector;
        selectors[1] = StakingHandler.requestUnstake.selector;
        selectors[2] = StakingHandler.withdraw.selector;
        selectors[3] = StakingHandler.tryWithdrawAnyway.selector;
        selectors[4] = StakingHandler.tryUnstakeAnyway.selector;
        selectors[5] = StakingHandler.schedule.selector;
        selectors[6] = StakingHandler.report.selector;
        selectors[7] = StakingHandler.warp.selector;
        selectors[8] = StakingHandler.warp.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    /// Σ (active + cooling) over all stakers == the contract's token balance.
    function invariant_StakesEqualBalance() public view {
        uint256 sum = 0;
        for (uint256 i = 0; i < 4; ++i) {
            IStakingTiers.Stake memory st = staking.stakeOf(handler.stakers(i));
            sum += uint256(st.active) + st.cooling;
        }
        assertEq(sum, ptoken.balanceOf(address(staking)));
    }

    /// Nobody withdraws more than they staked; what they staked is withdrawn, cooling or active.
    function invariant_NoOneWithdrawsMoreThanStaked() public view {
        for (uint256 i = 0; i < 4; ++i) {
            address s = handler.stakers(i);
            IStakingTiers.Stake memory st = staking.stakeOf(s);
            assertLe(handler.withdrawnOut(s), handler.stakedIn(s));
            assertEq(handler.stakedIn(s) - handler.withdrawnOut(s), uint256(st.active) + st.cooling);
        }
    }

    /// The set in force is always the last one whose delay has passed (never one still pending).
    function invariant_TiersChangeOnlyAfterDelay() public {
        (bool has, uint256 discount) = handler.expectedTier1Discount();
        (IStakingTiers.Tier[] memory t,) = staking.tiers();
        if (!has) {
            assertEq(t.length, 0);
        } else {
            assertEq(t.length, 1);
            assertEq(t[0].discountBps, discount);
        }
    }
}
