// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {AllianceSplits} from "../src/AllianceSplits.sol";
import {CreditToken} from "../src/CreditToken.sol";
import {IAllianceSplits} from "../src/interfaces/IAllianceSplits.sol";
import {AllianceFixture} from "./AllianceFixture.sol";

/// @dev Drives one alliance of 4 members: revenue from the escrow (collect) and from a funder (distribute),
/// contributions, node withdrawals, suspensions, claims. Ghosts: received, claimed, settlements.
contract AllianceHandler is CommonBase, StdCheats, StdUtils {
    AllianceFixtureView internal immutable _f;
    AllianceSplits internal immutable _splits;
    CreditToken internal immutable _token;
    uint256 internal immutable _allianceId;
    address internal immutable _operator;
    address internal immutable _funder;

    address[4] public members;
    uint64[] public nodes;
    uint256 public received;
    uint256 public claimed;
    uint256 public settlements;
    uint256 public bookings;
    bool public weightChangeMovedEarnings;

    constructor(AllianceFixtureView f, address[4] memory members_, address funder) {
        _f = f;
        _splits = f.splitsContract();
        _token = f.tokenContract();
        _allianceId = f.theAlliance();
        _operator = f.operatorAddress();
        _funder = funder;
        members = members_;
    }

    function addNode(uint64 nodeId) external {
        nodes.push(nodeId);
    }

    function _claimables() internal view returns (uint256[4] memory c) {
        for (uint256 i = 0; i < 4; ++i) {
            c[i] = _splits.claimable(_allianceId, members[i]);
        }
    }

    function _checkUnmoved(uint256[4] memory before) internal {
        uint256[4] memory afterwards = _claimables();
        for (uint256 i = 0; i < 4; ++i) {
            if (afterwards[i] != before[i]) weightChangeMovedEarnings = true;
        }
        settlements += 1;
    }

    function distribute(uint256 amount) external {
        amount = bound(amount, 1, 1e12);
        if (_splits.allianceInfo(_allianceId).totalShares == 0) return;
        vm.prank(_funder);
        _splits.distribute(_allianceId, amount);
        received += amount;
        bookings += 1;
    }

    function collect(uint256 nodeSeed, uint256 secs) external {
        uint64 nodeId = nodes[nodeSeed % nodes.length];
        if (_splits.nodeEntry(nodeId).allianceId == 0) return;
        if (_splits.allianceInfo(_allianceId).totalShares == 0) return;
        uint256 owed = _f.earnOn(nodeId, bound(secs, 1, 1 days));
        if (owed == 0) return;
        uint256 got = _splits.collect(nodeId);
        received += got;
        bookings += 1;
    }

    function contribute(uint256 who, uint32 units) external {
        address m = members[who % 4];
        if (_splits.memberInfo(_allianceId, m).status != _active()) return;
        units = uint32(bound(units, 1, 1_000));
        uint64 nodeId = _f.newSplitsNode(m);
        nodes.push(nodeId);
        uint256[4] memory before = _claimables();
        vm.prank(m);
        _splits.contribute(_allianceId, nodeId, units);
        _checkUnmoved(before);
    }

    function withdrawNode(uint256 nodeSeed) external {
        uint64 nodeId = nodes[nodeSeed % nodes.length];
        address m = _splits.nodeEntry(nodeId).member;
        if (m == address(0)) return;
        vm.prank(m);
        _splits.requestNodeExit(nodeId);
        vm.warp(block.timestamp + 7 days);
        uint256 owed = _f.escrowOwed(nodeId);
        bool shares = _splits.allianceInfo(_allianceId).totalShares != 0;
        uint256[4] memory before = _claimables();
        vm.prank(m);
        _splits.withdrawNode(nodeId);
        if (owed != 0 && shares) {
            // The node's unpaid earnings were booked first: only the booking may raise claimables.
            received += owed;
            bookings += 1;
            settlements += 1;
        } else {
            _checkUnmoved(before);
        }
    }

    function suspendOrReinstate(uint256 who) external {
        address m = members[who % 4];
        uint256[4] memory before = _claimables();
        vm.startPrank(_operator);
        if (_splits.memberInfo(_allianceId, m).status == _suspended()) {
            _splits.reinstate(_allianceId, m);
        } else {
            try _splits.suspend(_allianceId, m, 0) {} catch {}
        }
        vm.stopPrank();
        _checkUnmoved(before);
    }

    function claim(uint256 who) external {
        address m = members[who % 4];
        uint256 c = _splits.claimable(_allianceId, m);
        if (c == 0) return;
        uint256 balance = _token.balanceOf(m);
        vm.prank(m);
        uint256 paid = _splits.claim(_allianceId);
        require(paid == c && _token.balanceOf(m) == balance + c, "claim paid other than claimable");
        claimed += paid;
        settlements += 1;
    }

    function _active() internal pure returns (IAllianceSplits.MemberStatus) {
        return IAllianceSplits.MemberStatus.Active;
    }

    function _suspended() internal pure returns (IAllianceSplits.MemberStatus) {
        return IAllianceSplits.MemberStatus.Suspended;
    }
}

/// @dev What the handler needs from the fixture (the fixture's helpers use vm.prank on its own behalf).
interface AllianceFixtureView {
    function splitsContract() external view returns (AllianceSplits);
    function tokenContract() external view returns (CreditToken);
    function theAlliance() external view returns (uint256);
    function operatorAddress() external view returns (address);
    function earnOn(uint64 nodeId, uint256 secs) external returns (uint256);
    function newSplitsNode(address who) external returns (uint64);
    function escrowOwed(uint64 nodeId) external view returns (uint256);
}

contract AllianceSplitsInvariantTest is AllianceFixture, AllianceFixtureView {
    AllianceHandler internal handler;
    address[4] internal who;

    function setUp() public {
        _deployAlliances();
        who = [founder, makeAddr("m1"), makeAddr("m2"), makeAddr("m3")];
        address funder = makeAddr("funder");
        handler = new AllianceHandler(this, who, funder);
        for (uint256 i = 1; i < 4; ++i) {
            _join(who[i]);
        }
        for (uint256 i = 0; i < 4; ++i) {
            handler.addNode(_contribute(who[i], uint32(1 + i * 3)));
        }
        _mint(funder, 1e18);
        vm.prank(funder);
        token.approve(address(splits), type(uint256).max);
        targetContract(address(handler));
    }

    // ---- AllianceFixtureView --------------------------------------------------------------------------

    function splitsContract() external view returns (AllianceSplits) {
        return splits;
    }

    function tokenContract() external view returns (CreditToken) {
        return token;
    }

    function theAlliance() external view returns (uint256) {
        return allianceId;
    }

    function operatorAddress() external view returns (address) {
        return splitsOperator;
    }

    function earnOn(uint64 nodeId, uint256 secs) external returns (uint256) {
        return _earn(nodeId, secs);
    }

    function newSplitsNode(address m) external returns (uint64) {
        return _splitsNode(m);
    }

    function escrowOwed(uint64 nodeId) external view returns (uint256) {
        return escrow.nodeOwed(nodeId);
    }

    // ---- invariants -----------------------------------------------------------------------------------

    /// Σ claimed + Σ claimable + dust == Σ received, with 0 <= dust <= settlements + members + bookings: each
    /// settlement of a member (claim, weight change) rounds down once (< 1 unit), each member's unsettled
    /// share is rounded down in `claimable` (< 1 unit each), and each booking's accumulator step rounds down
    /// (< totalShares / 1e36 units).
    function invariant_MoneyInEqualsMoneyOutPlusHeld() public view {
        uint256 sumClaimable;
        for (uint256 i = 0; i < 4; ++i) {
            sumClaimable += splits.claimable(allianceId, who[i]);
        }
        uint256 held = token.balanceOf(address(splits));
        assertEq(held + handler.claimed(), handler.received(), "held + claimed == received");
        assertLe(sumClaimable, held, "dust never in a member's favour");
        assertLe(held - sumClaimable, handler.settlements() + 4 + handler.bookings(), "dust bounded");
    }

    function invariant_WeightChangeNeverMovesEarnings() public view {
        assertFalse(handler.weightChangeMovedEarnings());
    }

    function invariant_TotalSharesIsSumOfWeights() public view {
        uint256 sum;
        for (uint256 i = 0; i < 4; ++i) {
            sum += splits.memberInfo(allianceId, who[i]).weight;
        }
        assertEq(splits.allianceInfo(allianceId).totalShares, sum);
    }
}
