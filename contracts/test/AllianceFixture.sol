// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {AllianceSplits} from "../src/AllianceSplits.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {IProviderRegistry} from "../src/interfaces/IProviderRegistry.sol";
import {MarketplaceFixture} from "./MarketplaceFixture.sol";

/// @dev The real marketplace plus AllianceSplits; helpers to make members with nodes paying the splits.
abstract contract AllianceFixture is MarketplaceFixture {
    bytes32 internal constant NAME = keccak256("north-alliance");
    bytes32 internal constant TERMS = keccak256("terms v1");
    uint32 internal constant NOTICE = 7 days;
    uint32 internal constant MAX_UNITS = 1_000;
    uint256 internal constant SCALE = 1e36;

    AllianceSplits internal splits;
    address internal splitsOperator = makeAddr("splitsOperator");
    address internal founder = makeAddr("founder");
    uint256 internal allianceId;

    function _deployAlliances() internal {
        _deployMarketplace();
        splits = new AllianceSplits(
            IERC20(address(token)), IProviderRegistry(address(registry)), IDeploymentEscrow(address(escrow)), admin
        );
        bytes32 role = splits.OPERATOR_ROLE();
        vm.prank(admin);
        splits.grantRole(role, splitsOperator);
        _registerApproved(founder, MIN_COLLATERAL);
        vm.prank(founder);
        allianceId = splits.propose(NAME, TERMS, founder, NOTICE, MAX_UNITS);
    }

    /// @dev An approved provider's new node whose payee is the splits contract.
    function _splitsNode(address who) internal returns (uint64) {
        return _addNode(who, address(splits));
    }

    /// @dev Registers `who` as an approved provider, invites it, accepts.
    function _join(address who) internal {
        _registerApproved(who, MIN_COLLATERAL);
        vm.prank(founder);
        splits.invite(allianceId, who);
        vm.prank(who);
        splits.accept(allianceId, TERMS);
    }

    function _contribute(address who, uint32 units) internal returns (uint64 nodeId) {
        nodeId = _splitsNode(who);
        vm.prank(who);
        splits.contribute(allianceId, nodeId, units);
    }

    /// @dev A payer funds `amount` of credit into the alliance through `distribute`.
    function _distribute(uint256 amount) internal {
        _mint(payer, amount);
        vm.startPrank(payer);
        token.approve(address(splits), amount);
        splits.distribute(allianceId, amount);
        vm.stopPrank();
    }

    /// @dev Opens a lease on `nodeId`, lets it run `secs`, settles it; returns what the node is owed.
    function _earn(uint64 nodeId, uint256 secs) internal returns (uint256 owed) {
        _fundPayer(payer, DEPOSIT_FOR_EARN);
        uint256 leaseId = _open(payer, nodeId, 1_000, DEPOSIT_FOR_EARN);
        vm.warp(block.timestamp + secs);
        vm.prank(keeper);
        escrow.settle(leaseId);
        owed = escrow.nodeOwed(nodeId);
    }

    uint256 internal constant DEPOSIT_FOR_EARN = 100e6;
}
