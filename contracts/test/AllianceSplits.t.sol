// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAllianceSplits} from "../src/interfaces/IAllianceSplits.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {AllianceFixture} from "./AllianceFixture.sol";

contract AllianceSplitsTest is AllianceFixture {
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");

    function setUp() public {
        _deployAlliances();
    }

    // ---- membership ---------------------------------------------------------------------------------

    function test_Propose_FounderIsActiveMember() public view {
        IAllianceSplits.AllianceInfo memory a = splits.allianceInfo(allianceId);
        assertEq(a.admin, founder);
        assertEq(a.nameHash, NAME);
        assertEq(a.termsHash, TERMS);
        assertEq(a.memberCount, 1);
        assertEq(a.noticePeriod, NOTICE);
        assertEq(a.maxUnitsPerNode, MAX_UNITS);
        assertEq(uint8(splits.memberInfo(allianceId, founder).status), uint8(IAllianceSplits.MemberStatus.Active));
        assertEq(splits.allianceCount(), 1);
    }

    function test_Propose_EmitsEvents() public {
        vm.expectEmit(address(splits));
        emit IAllianceSplits.AllianceProposed(2, bob, carol, NAME, TERMS, 60, 5);
        vm.expectEmit(address(splits));
        emit IAllianceSplits.MemberAccepted(2, bob);
        vm.prank(bob);
        assertEq(splits.propose(NAME, TERMS, carol, 60, 5), 2);
    }

    function test_Propose_RevertsOnZeroAdminOrUnits() public {
        vm.expectRevert(IAllianceSplits.ZeroAddress.selector);
        splits.propose(NAME, TERMS, address(0), 1, 1);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.InvalidUnits.selector, 0, 0));
        splits.propose(NAME, TERMS, founder, 1, 0);
    }

    function test_Invite_OnlyAdmin() public {
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NotAllianceAdmin.selector, allianceId, bob));
        splits.invite(allianceId, bob);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.UnknownAlliance.selector, 99));
        splits.invite(99, bob);
    }

    function test_Accept_NeedsInvitationAndTerms() public {
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAllianceSplits.InvalidMemberStatus.selector, allianceId, bob, IAllianceSplits.MemberStatus.None
            )
        );
        splits.accept(allianceId, TERMS);
        vm.prank(founder);
        splits.invite(allianceId, bob);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.TermsMismatch.selector, allianceId, TERMS));
        splits.accept(allianceId, keccak256("other terms"));
        vm.expectEmit(address(splits));
        emit IAllianceSplits.MemberAccepted(allianceId, bob);
        vm.prank(bob);
        splits.accept(allianceId, TERMS);
        assertEq(splits.allianceInfo(allianceId).memberCount, 2);
    }

    // ---- nodes --------------------------------------------------------------------------------------

    function test_Contribute_SetsWeight() public {
        _join(bob);
        uint64 nodeId = _splitsNode(bob);
        vm.expectEmit(address(splits));
        emit IAllianceSplits.NodeContributed(allianceId, bob, nodeId, 40);
        vm.expectEmit(address(splits));
        emit IAllianceSplits.WeightChanged(allianceId, bob, 40, 40);
        vm.prank(bob);
        splits.contribute(allianceId, nodeId, 40);
        IAllianceSplits.MemberInfo memory m = splits.memberInfo(allianceId, bob);
        assertEq(m.weight, 40);
        assertEq(m.units, 40);
        assertEq(m.nodes, 1);
        IAllianceSplits.NodeEntry memory n = splits.nodeEntry(nodeId);
        assertEq(n.allianceId, allianceId);
        assertEq(n.member, bob);
        assertEq(n.units, 40);
    }

    function test_Contribute_RevertsForOthersNodeOrWrongPayee() public {
        _join(bob);
        _join(carol);
        uint64 carolsNode = _splitsNode(carol);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NotNodeOwner.selector, carolsNode, bob));
        splits.contribute(allianceId, carolsNode, 1);
        uint64 ownPayee = _addNode(bob, address(0));
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.PayeeNotSplits.selector, ownPayee, bob));
        splits.contribute(allianceId, ownPayee, 1);
    }

    function test_Contribute_RevertsOnBadUnitsTwiceOrNotMember() public {
        _join(bob);
        uint64 nodeId = _splitsNode(bob);
        vm.startPrank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.InvalidUnits.selector, 0, MAX_UNITS));
        splits.contribute(allianceId, nodeId, 0);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.InvalidUnits.selector, MAX_UNITS + 1, MAX_UNITS));
        splits.contribute(allianceId, nodeId, MAX_UNITS + 1);
        splits.contribute(allianceId, nodeId, 1);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NodeAlreadyContributed.selector, nodeId, allianceId));
        splits.contribute(allianceId, nodeId, 1);
        vm.stopPrank();
        _registerApproved(carol, MIN_COLLATERAL);
        uint64 carolsNode = _splitsNode(carol);
        vm.prank(carol);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAllianceSplits.InvalidMemberStatus.selector, allianceId, carol, IAllianceSplits.MemberStatus.None
            )
        );
        splits.contribute(allianceId, carolsNode, 1);
    }

    function test_WithdrawNode_NeedsNoticeAndBooksOwedFirst() public {
        _join(bob);
        uint64 bobsNode = _contribute(bob, 1);
        _contribute(founder, 3);
        uint256 owed = _earn(bobsNode, 1 hours);
        assertGt(owed, 0);
        vm.startPrank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NoticeNotElapsed.selector, 0));
        splits.withdrawNode(bobsNode);
        splits.requestNodeExit(bobsNode);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NoticeNotElapsed.selector, block.timestamp + NOTICE));
        splits.withdrawNode(bobsNode);
        vm.warp(block.timestamp + NOTICE);
        uint256 owedNow = escrow.nodeOwed(bobsNode);
        splits.withdrawNode(bobsNode);
        vm.stopPrank();
        // Everything the node earned while contributed was booked at the old weights (1 : 3).
        assertEq(escrow.nodeOwed(bobsNode), 0);
        uint256 acc = (owedNow * SCALE) / 4;
        assertEq(splits.claimable(allianceId, bob), acc / SCALE);
        assertEq(splits.claimable(allianceId, founder), (3 * acc) / SCALE);
        assertEq(splits.memberInfo(allianceId, bob).weight, 0);
        assertEq(splits.allianceInfo(allianceId).totalShares, 3);
        assertEq(splits.nodeEntry(bobsNode).allianceId, 0);
    }

    function test_CheckNode_DropsNodeWhosePayeeMoved() public {
        _join(bob);
        uint64 bobsNode = _contribute(bob, 5);
        _contribute(founder, 5);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NodeStillValid.selector, bobsNode));
        splits.checkNode(bobsNode);
        vm.prank(bob);
        registry.setNodePayee(bobsNode, bob);
        vm.prank(carol);
        splits.checkNode(bobsNode);
        assertEq(splits.memberInfo(allianceId, bob).weight, 0);
        assertEq(splits.allianceInfo(allianceId).totalShares, 5);
    }

    function test_CheckNode_RemovedNodeBooksOwedThenDrops() public {
        _join(bob);
        uint64 bobsNode = _contribute(bob, 5);
        _contribute(founder, 5);
        uint256 owed = _earn(bobsNode, 1 hours);
        vm.prank(bob);
        registry.removeNode(bobsNode);
        owed = escrow.nodeOwed(bobsNode);
        splits.checkNode(bobsNode);
        assertEq(splits.claimable(allianceId, bob), ((owed * SCALE / 10) * 5) / SCALE);
        assertEq(splits.memberInfo(allianceId, bob).units, 0);
    }

    // ---- leaving, suspension -------------------------------------------------------------------------

    function test_Leave_AfterNoticeWithoutNodes() public {
        _join(bob);
        uint64 bobsNode = _contribute(bob, 2);
        vm.startPrank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAllianceSplits.InvalidMemberStatus.selector, allianceId, bob, IAllianceSplits.MemberStatus.Active
            )
        );
        splits.leave(allianceId);
        splits.requestLeave(allianceId);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NoticeNotElapsed.selector, block.timestamp + NOTICE));
        splits.leave(allianceId);
        vm.warp(block.timestamp + NOTICE);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NodesRemaining.selector, 1));
        splits.leave(allianceId);
        splits.withdrawNode(bobsNode); // the leave notice covers the member's nodes
        splits.leave(allianceId);
        vm.stopPrank();
        assertEq(uint8(splits.memberInfo(allianceId, bob).status), uint8(IAllianceSplits.MemberStatus.Left));
        assertEq(splits.allianceInfo(allianceId).memberCount, 1);
        // A former member can be invited again.
        vm.prank(founder);
        splits.invite(allianceId, bob);
    }

    function test_Leaving_MemberKeepsEarningDuringNotice() public {
        _join(bob);
        _contribute(bob, 1);
        _contribute(founder, 1);
        vm.prank(bob);
        splits.requestLeave(allianceId);
        _distribute(100);
        assertEq(splits.claimable(allianceId, bob), 50);
    }

    function test_Suspend_SettlesThenZeroesWeight() public {
        _join(bob);
        _contribute(bob, 1);
        _contribute(founder, 1);
        _distribute(1_000);
        vm.prank(bob);
        vm.expectRevert();
        splits.suspend(allianceId, bob, bytes32("sla"));
        vm.expectEmit(address(splits));
        emit IAllianceSplits.MemberSuspended(allianceId, bob, bytes32("sla"));
        vm.prank(splitsOperator);
        splits.suspend(allianceId, bob, bytes32("sla"));
        assertEq(splits.claimable(allianceId, bob), 500); // earned before suspension stays
        _distribute(1_000);
        assertEq(splits.claimable(allianceId, bob), 500);
        assertEq(splits.claimable(allianceId, founder), 1_500);
        vm.prank(splitsOperator);
        splits.reinstate(allianceId, bob);
        assertEq(splits.memberInfo(allianceId, bob).weight, 1);
        _distribute(1_000);
        assertEq(splits.claimable(allianceId, bob), 1_000);
    }

    // ---- revenue ------------------------------------------------------------------------------------

    function test_Collect_SplitsEscrowEarningsByWeight() public {
        _join(bob);
        uint64 foundersNode = _contribute(founder, 3);
        _contribute(bob, 1);
        uint256 owed = _earn(foundersNode, 1 hours);
        vm.expectEmit(address(splits));
        emit IAllianceSplits.RevenueBooked(allianceId, foundersNode, address(escrow), owed, (owed * SCALE) / 4);
        vm.prank(keeper);
        assertEq(splits.collect(foundersNode), owed);
        uint256 acc = (owed * SCALE) / 4;
        uint256 f = (3 * acc) / SCALE;
        uint256 b = acc / SCALE;
        assertEq(splits.claimable(allianceId, founder), f);
        assertEq(splits.claimable(allianceId, bob), b);
        assertLe(owed - f - b, 2);
        vm.prank(founder);
        assertEq(splits.claim(allianceId), f);
        vm.prank(bob);
        assertEq(splits.claim(allianceId), b);
        assertEq(token.balanceOf(address(splits)), owed - f - b);
        vm.prank(bob);
        vm.expectRevert(IAllianceSplits.NothingToPay.selector);
        splits.claim(allianceId);
    }

    function test_Collect_RevertsForUnknownNodeOrNoShares() public {
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NodeNotContributed.selector, 77));
        splits.collect(77);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NoShares.selector, allianceId));
        splits.distribute(allianceId, 1);
        uint64 n = _contribute(founder, 1);
        _earn(n, 60);
        vm.prank(splitsOperator);
        splits.suspend(allianceId, founder, 0);
        vm.expectRevert(abi.encodeWithSelector(IAllianceSplits.NoShares.selector, allianceId));
        splits.collect(n);
    }

    function test_WeightChange_NeverMovesEarnedRevenue() public {
        _join(bob);
        _contribute(founder, 1);
        _contribute(bob, 1);
        _distribute(1_000);
        _contribute(bob, 8); // bob 9, founder 1
        assertEq(splits.claimable(allianceId, bob), 500);
        assertEq(splits.claimable(allianceId, founder), 500);
        _distribute(1_000);
        assertEq(splits.claimable(allianceId, bob), 1_400);
        assertEq(splits.claimable(allianceId, founder), 600);
    }

    function testFuzz_SplitIsProportionalAndDustBounded(uint32[4] memory units, uint96 amount) public {
        address[4] memory who = [founder, bob, carol, makeAddr("dave")];
        uint256 total;
        for (uint256 i = 0; i < 4; ++i) {
            units[i] = uint32(bound(units[i], 1, MAX_UNITS));
            if (i != 0) _join(who[i]);
            _contribute(who[i], units[i]);
            total += units[i];
        }
        amount = uint96(bound(amount, 1, 1e15));
        _distribute(amount);
        uint256 acc = (uint256(amount) * SCALE) / total;
        uint256 sum;
        for (uint256 i = 0; i < 4; ++i) {
            uint256 c = splits.claimable(allianceId, who[i]);
            assertEq(c, (units[i] * acc) / SCALE);
            sum += c;
        }
        assertLe(sum, amount);
        assertLe(amount - sum, 4); // < 1 unit per member
    }
}
