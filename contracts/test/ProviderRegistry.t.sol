// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IProviderRegistry} from "../src/interfaces/IProviderRegistry.sol";
import {MarketplaceFixture} from "./MarketplaceFixture.sol";

contract ProviderRegistryTest is MarketplaceFixture {
    function setUp() public {
        _deployMarketplace();
    }

    function test_RegisterApproveAddNode() public {
        _mint(provider, MIN_COLLATERAL);
        vm.startPrank(provider);
        token.approve(address(registry), MIN_COLLATERAL);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.ProviderRegistered(provider, MIN_COLLATERAL);
        registry.register(MIN_COLLATERAL);
        uint64 id = registry.addNode(alliance);
        vm.stopPrank();
        assertEq(token.balanceOf(address(registry)), MIN_COLLATERAL);
        assertEq(uint8(registry.providerInfo(provider).status), uint8(IProviderRegistry.ProviderStatus.Pending));
        assertFalse(registry.isNodeActive(id)); // pending provider
        vm.prank(operator);
        registry.approveProvider(provider);
        assertTrue(registry.isNodeActive(id));
        assertEq(registry.nodePayee(id), alliance);
        assertEq(registry.nodeProvider(id), provider);
        assertEq(registry.nodeCount(), 1);
        vm.prank(operator);
        registry.suspendProvider(provider, "late");
        assertFalse(registry.isNodeActive(id));
    }

    function test_RevertWhen_RegisterBelowMinimumOrTwice() public {
        _mint(provider, 2 * MIN_COLLATERAL);
        vm.startPrank(provider);
        token.approve(address(registry), 2 * MIN_COLLATERAL);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.CollateralBelowMinimum.selector, MIN_COLLATERAL - 1, MIN_COLLATERAL
            )
        );
        registry.register(MIN_COLLATERAL - 1);
        registry.register(MIN_COLLATERAL);
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.InvalidProviderStatus.selector, provider, IProviderRegistry.ProviderStatus.Pending
            )
        );
        registry.register(MIN_COLLATERAL);
        vm.stopPrank();
    }

    function test_RevertWhen_NonOperatorApproves() public {
        _registerApproved(provider, MIN_COLLATERAL);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, keeper, registry.OPERATOR_ROLE()
            )
        );
        vm.prank(keeper);
        registry.suspendProvider(provider, "x");
    }

    function test_SeizeSendsToTreasuryOncePerRef() public {
        _registerApproved(provider, MIN_COLLATERAL);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.CollateralSeized(provider, 100e6, "breach-1", keccak256("evidence"), treasury);
        vm.prank(seizer);
        registry.seize(provider, 100e6, "breach-1", keccak256("evidence"));
        assertEq(token.balanceOf(treasury), 100e6);
        assertEq(registry.providerInfo(provider).collateral, MIN_COLLATERAL - 100e6);
        assertTrue(registry.seizeRefUsed("breach-1"));
        vm.startPrank(seizer);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.RefAlreadyUsed.selector, bytes32("breach-1")));
        registry.seize(provider, 1, "breach-1", bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IProviderRegistry.SeizeExceedsCollateral.selector, provider, MIN_COLLATERAL, MIN_COLLATERAL - 100e6
            )
        );
        registry.seize(provider, MIN_COLLATERAL, "breach-2", bytes32(0));
        vm.expectRevert(IProviderRegistry.ZeroRef.selector);
        registry.seize(provider, 1, bytes32(0), bytes32(0));
        vm.stopPrank();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, operator, registry.SEIZER_ROLE()
            )
        );
        vm.prank(operator);
        registry.seize(provider, 1, "breach-3", bytes32(0));
    }

    function test_ExitCooldownThenWithdraw() public {
        _registerApproved(provider, MIN_COLLATERAL);
        uint64 id = _addNode(provider, address(0));
        vm.prank(provider);
        registry.requestExit();
        assertFalse(registry.isNodeActive(id));
        uint256 availableAt = block.timestamp + EXIT_COOLDOWN;
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ExitCooldownActive.selector, provider, availableAt));
        vm.prank(provider);
        registry.withdrawCollateral();
        vm.prank(seizer); // still seizable during the cooldown
        registry.seize(provider, 1e6, "late-breach", bytes32(0));
        vm.warp(availableAt);
        vm.prank(provider);
        registry.withdrawCollateral();
        assertEq(token.balanceOf(provider), MIN_COLLATERAL - 1e6);
        assertEq(uint8(registry.providerInfo(provider).status), uint8(IProviderRegistry.ProviderStatus.None));
        assertEq(token.balanceOf(address(registry)), 0);
    }

    function test_MaintenanceWindowRules() public {
        _registerApproved(provider, MIN_COLLATERAL);
        uint64 id = _addNode(provider, address(0));
        uint32 soon = uint32(block.timestamp + MIN_NOTICE - 1);
        vm.startPrank(provider);
        vm.expectRevert(
            abi.encodeWithSelector(IProviderRegistry.NoticeTooShort.selector, soon, block.timestamp + MIN_NOTICE)
        );
        registry.scheduleMaintenance(id, soon, soon + 1 hours);
        uint32 start = uint32(block.timestamp + MIN_NOTICE);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.InvalidWindow.selector, start, start + MAX_WINDOW + 1));
        registry.scheduleMaintenance(id, start, start + MAX_WINDOW + 1);
        registry.scheduleMaintenance(id, start, start + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.MaintenancePending.selector, id, start + 1 hours));
        registry.scheduleMaintenance(id, start + 2 hours, start + 3 hours);
        registry.cancelMaintenance(id);
        vm.stopPrank();
        assertFalse(registry.inMaintenance(id));
        // The cancelled window still counts: a second one within 30 days is the last allowed (MAX_WINDOWS = 2).
        vm.prank(provider);
        registry.scheduleMaintenance(id, start, start + 1 hours);
        vm.warp(start);
        assertTrue(registry.inMaintenance(id));
        assertTrue(registry.isNodeActive(id)); // maintenance does not stop running leases
        vm.warp(start + 1 hours);
        assertFalse(registry.inMaintenance(id));
        uint32 next = uint32(block.timestamp + MIN_NOTICE);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.MonthlyWindowLimitReached.selector, id, next));
        vm.prank(provider);
        registry.scheduleMaintenance(id, next, next + 1 hours);
        // 30 days after the first two starts, a window fits again.
        uint32 later = start + 30 days;
        vm.prank(provider);
        registry.scheduleMaintenance(id, later, later + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.NotNodeProvider.selector, id, keeper));
        vm.prank(keeper);
        registry.cancelMaintenance(id);
    }

    function test_NodePayeeAndRemoval() public {
        _registerApproved(provider, MIN_COLLATERAL);
        uint64 id = _addNode(provider, address(0));
        assertEq(registry.nodePayee(id), provider);
        vm.startPrank(provider);
        registry.setNodePayee(id, alliance);
        vm.expectRevert(IProviderRegistry.ZeroAddress.selector);
        registry.setNodePayee(id, address(0));
        registry.removeNode(id);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.UnknownNode.selector, id));
        registry.setNodePayee(id, provider);
        vm.stopPrank();
        assertEq(registry.nodePayee(id), alliance);
        assertFalse(registry.isNodeActive(id));
    }

    /// Seizures never take more than the collateral, and the registry's credit equals the collateral.
    function testFuzz_SeizeBoundedByCollateral(uint96 collateral, uint96 first, uint96 second) public {
        collateral = uint96(bound(collateral, MIN_COLLATERAL, 1e15));
        _registerApproved(provider, collateral);
        first = uint96(bound(first, 1, collateral));
        vm.startPrank(seizer);
        registry.seize(provider, first, "a", bytes32(0));
        uint256 left = collateral - first;
        second = uint96(bound(second, 1, type(uint96).max));
        if (second > left) {
            vm.expectRevert(
                abi.encodeWithSelector(IProviderRegistry.SeizeExceedsCollateral.selector, provider, second, left)
            );
        }
        registry.seize(provider, second, "b", bytes32(0));
        vm.stopPrank();
        assertEq(token.balanceOf(address(registry)), registry.providerInfo(provider).collateral);
        assertEq(token.balanceOf(treasury) + token.balanceOf(address(registry)), collateral);
    }
}
