// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "forge-std/Test.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {IStakingTiers} from "../src/interfaces/IStakingTiers.sol";
import {StakingFixture} from "./StakingTiers.t.sol";
import {PlatformToken} from "../src/PlatformToken.sol";
import {StakingTiers} from "../src/StakingTiers.sol";

/**
 * @dev Gas per staking operation as a FULL TRANSACTION, measured like `DeploymentEscrow.gas.t.sol`: each
 * measured call runs in forge's isolation mode (`isolate = true`: its own transaction, every account and slot
 * cold except sender and target) and `vm.lastCallGas().gasTotalUsed` is the transaction's gas (21,000 intrinsic
 * + calldata + execution, before refunds).
 *
 * States (staker slot / staker's token allowance / the contract's token balance):
 * - Best: the staker already has stake, an unlimited allowance (no allowance write), others have stake.
 * - Typical: the staker already has stake and approved exactly the amount (allowance x -> 0), others have stake.
 * - FirstUse: a new staker (slot 0 -> x) approving exactly the amount; the contract already holds stake (the dev
 *   deploy seeds one unit, so no staker ever pays the contract balance's 0 -> x write).
 * - FreshContract: as FirstUse on a contract holding nothing (that one-time write included), for reference.
 * Targets (issue 13): stake first <= 70k, stake again <= 50k, unstake request <= 50k.
 */
abstract contract StakingGasBase is Test {
    uint256 internal constant UNIT = 1e18;
    PlatformToken internal ptoken;
    StakingTiers internal staking;
    address internal holder = makeAddr("holder");
    address internal other = makeAddr("other");
    address internal staker = makeAddr("staker");

    function setUp() public {
        vm.warp(1_750_000_000);
        ptoken = new PlatformToken(holder, 1e9 * UNIT);
        staking = new StakingTiers(IERC20(address(ptoken)), makeAddr("admin"), 7 days, 3 days);
        vm.startPrank(holder);
        ptoken.transfer(staker, 1_000 * UNIT);
        ptoken.transfer(other, 1_000 * UNIT);
        vm.stopPrank();
        _prepare();
    }

    function _prepare() internal virtual;

    function _state() internal pure virtual returns (string memory);

    function _stakeAs(address who, uint256 amount, uint256 allowance) internal {
        vm.startPrank(who);
        ptoken.approve(address(staking), allowance);
        staking.stake(amount, 0);
        vm.stopPrank();
    }

    function _txGas(address from, bytes memory data, string memory name) internal returns (uint256 gas) {
        vm.prank(from);
        (bool ok,) = address(staking).call(data);
        assertTrue(ok, name);
        gas = vm.lastCallGas().gasTotalUsed;
        emit log_named_uint(string.concat(_state(), " ", name), gas);
    }

    function _gasStake() internal returns (uint256) {
        return _txGas(staker, abi.encodeCall(staking.stake, (100 * UNIT, 0)), "stake");
    }

    function _gasRequestUnstake() internal returns (uint256) {
        return _txGas(staker, abi.encodeCall(staking.requestUnstake, (10 * UNIT)), "requestUnstake");
    }

    function _gasWithdraw() internal returns (uint256) {
        vm.prank(staker);
        staking.requestUnstake(10 * UNIT);
        vm.warp(block.timestamp + 7 days);
        return _txGas(staker, abi.encodeCall(staking.withdraw, ()), "withdraw");
    }
}

contract StakingGasBestTest is StakingGasBase {
    function _state() internal pure override returns (string memory) {
        return "best";
    }

    function _prepare() internal override {
        _stakeAs(other, 100 * UNIT, 100 * UNIT);
        _stakeAs(staker, 100 * UNIT, type(uint256).max);
    }

    /// forge-config: default.isolate = true
    function test_Gas_StakeAgain() public {
        assertLe(_gasStake(), 50_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_RequestUnstake() public {
        assertLe(_gasRequestUnstake(), 50_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_Withdraw() public {
        assertLe(_gasWithdraw(), 50_000);
    }
}

contract StakingGasTypicalTest is StakingGasBase {
    function _state() internal pure override returns (string memory) {
        return "typical";
    }

    function _prepare() internal override {
        _stakeAs(other, 100 * UNIT, 100 * UNIT);
        _stakeAs(staker, 100 * UNIT, 100 * UNIT);
        vm.prank(staker);
        ptoken.approve(address(staking), 100 * UNIT);
    }

    /// forge-config: default.isolate = true
    function test_Gas_StakeAgain() public {
        assertLe(_gasStake(), 50_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_RequestUnstake() public {
        assertLe(_gasRequestUnstake(), 50_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_Withdraw() public {
        assertLe(_gasWithdraw(), 50_000);
    }
}

contract StakingGasFirstUseTest is StakingGasBase {
    function _state() internal pure override returns (string memory) {
        return "firstUse";
    }

    function _prepare() internal override {
        _stakeAs(other, 1, 1); // the deploy's seed stake
        vm.prank(staker);
        ptoken.approve(address(staking), 100 * UNIT);
    }

    /// forge-config: default.isolate = true
    function test_Gas_StakeFirst() public {
        assertLe(_gasStake(), 70_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_RequestUnstakeAfterFirstStake() public {
        vm.prank(staker);
        staking.stake(100 * UNIT, 0);
        assertLe(_gasRequestUnstake(), 50_000);
    }
}

contract StakingGasFreshContractTest is StakingGasBase {
    function _state() internal pure override returns (string memory) {
        return "freshContract";
    }

    function _prepare() internal override {
        vm.prank(staker);
        ptoken.approve(address(staking), 100 * UNIT);
    }

    /// forge-config: default.isolate = true
    function test_Gas_StakeFirstEver() public {
        assertLe(_gasStake(), 90_000); // reference only: includes the contract balance's one-time 0 -> x write
    }
}

/// @dev What the oracle adds to the escrow's `open` (full transaction, isolated, typical state of the escrow gas
/// table: the node already has leases): without an oracle, with StakingTiers and no tiers, and with three tiers
/// (the payer staked in the lowest: the oracle reads every tier) and a reported spend rate.
contract StakingOracleOpenGasTest is StakingFixture {
    function setUp() public {
        _deployStaking();
        _registerApproved(provider, MIN_COLLATERAL);
        node = _addNode(provider, address(0));
        _fundPayer(payer, 1_000e6);
        _fundStaker(payer, 20_000 * UNIT);
        _open(payer, node, 1_000, 10e6); // the node already has a lease
    }

    function _gasOpen(string memory name) internal returns (uint256 gas) {
        bytes32 spec = keccak256("spec-gas");
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, 1_000, spec);
        vm.prank(payer);
        (bool ok,) = address(escrow).call(abi.encodeCall(escrow.open, (node, 1_000, 10e6, spec, q)));
        assertTrue(ok, name);
        gas = vm.lastCallGas().gasTotalUsed;
        emit log_named_uint(name, gas);
    }

    /// forge-config: default.isolate = true
    function test_Gas_OpenWithoutOracle() public {
        vm.prank(admin);
        escrow.setDiscountOracle(address(0));
        _gasOpen("open, no oracle");
    }

    /// forge-config: default.isolate = true
    function test_Gas_OpenWithStakingNonStaker() public {
        _activate(_threeTiers(), COVER);
        assertLe(_gasOpen("open, StakingTiers, payer without stake"), 103_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_OpenWithStakingTopTier() public {
        _activate(_threeTiers(), COVER);
        _stake(payer, 10_001 * UNIT, uint32(block.timestamp + 365 days));
        _report(payer, 1_000);
        assertLe(_gasOpen("open, StakingTiers 3 tiers, top tier"), 112_000);
    }

    /// forge-config: default.isolate = true
    function test_Gas_OpenWithStakingThreeTiers() public {
        _activate(_threeTiers(), COVER);
        _stake(payer, 1_000 * UNIT, 0);
        _report(payer, 1_000);
        assertLe(_gasOpen("open, StakingTiers 3 tiers, lowest tier"), 117_000);
    }
}
