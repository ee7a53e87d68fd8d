// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {CreditToken} from "../src/CreditToken.sol";
import {DeploymentEscrow} from "../src/DeploymentEscrow.sol";
import {ProviderRegistry} from "../src/ProviderRegistry.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {EscrowSigning} from "./EscrowSigning.sol";
import {MarketplaceFixture} from "./MarketplaceFixture.sol";

/// @dev Drives leases (open, top-up, settle, settleMany, close, their by-signature forms relayed by a third
/// party, time), withdrawals and seizures, and keeps
/// ghost totals of what was accrued and withdrawn per node.
contract MarketplaceHandler is CommonBase, StdCheats, StdUtils {
    CreditToken public immutable token;
    ProviderRegistry public immutable registry;
    DeploymentEscrow public immutable escrow;
    address public immutable seizer;
    address public immutable provider;

    address[3] public payers;
    uint256[3] private _payerKeys;
    address[2] public keepers;
    uint64[] public nodes;
    uint256[] public leases;
    mapping(uint64 nodeId => uint256 amount) public accruedToNode;
    mapping(uint64 nodeId => uint256 amount) public withdrawnByNode;
    uint256 public seizedTotal;
    uint256 public collateralTotal;
    uint256 public closedAccrualViolations;
    uint256 private _refSeq;

    constructor(
        CreditToken token_,
        ProviderRegistry registry_,
        DeploymentEscrow escrow_,
        address seizer_,
        address provider_,
        uint64[] memory nodes_,
        uint256 collateral
    ) {
        token = token_;
        registry = registry_;
        escrow = escrow_;
        seizer = seizer_;
        provider = provider_;
        nodes = nodes_;
        collateralTotal = collateral;
        for (uint256 i = 0; i < 3; ++i) {
            (payers[i], _payerKeys[i]) = makeAddrAndKey(string.concat("payer", vm.toString(i)));
        }
        for (uint256 i = 0; i < 2; ++i) keepers[i] = makeAddr(string.concat("keeper", vm.toString(i)));
    }

    function leaseCount() external view returns (uint256) {
        return leases.length;
    }

    function nodeCount() external view returns (uint256) {
        return nodes.length;
    }

    function keeperAt(uint256 i) external view returns (address) {
        return keepers[i];
    }

    function _snapshotOwed() private view returns (uint256[] memory owed) {
        owed = new uint256[](nodes.length);
        for (uint256 i = 0; i < nodes.length; ++i) owed[i] = escrow.nodeOwed(nodes[i]);
    }

    function _recordAccrual(uint256[] memory before) private {
        for (uint256 i = 0; i < nodes.length; ++i) {
            accruedToNode[nodes[i]] += escrow.nodeOwed(nodes[i]) - before[i];
        }
    }

    function open(uint256 payerSeed, uint256 nodeSeed, uint256 rate, uint256 deposit) external {
        address payer = payers[payerSeed % 3];
        rate = bound(rate, 1, 1e6);
        deposit = bound(deposit, 1, 1_000e6);
        vm.prank(payer);
        uint256 id = escrow.open(nodes[nodeSeed % nodes.length], rate, deposit, bytes32(rate));
        leases.push(id);
    }

    /// @dev Signed by the payer, submitted by a keeper; uses the payer's standing allowance (no permit).
    function openBySig(uint256 payerSeed, uint256 nodeSeed, uint256 rate, uint256 deposit) external {
        uint256 i = payerSeed % 3;
        IDeploymentEscrow.OpenRequest memory req = IDeploymentEscrow.OpenRequest({
            payer: payers[i],
            nodeId: nodes[nodeSeed % nodes.length],
            ratePerSecond: bound(rate, 1, 1e6),
            deposit: bound(deposit, 1, 1_000e6),
            specHash: bytes32(rate),
            nonce: escrow.nonces(payers[i]),
            deadline: block.timestamp
        });
        bytes memory sig = EscrowSigning.sign(_payerKeys[i], EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory none;
        vm.prank(keepers[0]);
        leases.push(escrow.openBySig(req, none, sig));
    }

    function closeBySig(uint256 leaseSeed) external {
        if (leases.length == 0) return;
        uint256 id = leases[leaseSeed % leases.length];
        address payer = escrow.payerOf(id);
        uint256 i = payer == payers[0] ? 0 : payer == payers[1] ? 1 : 2;
        IDeploymentEscrow.CloseRequest memory req = IDeploymentEscrow.CloseRequest({
            payer: payer, leaseId: id, nonce: escrow.nonces(payer), deadline: block.timestamp
        });
        bytes memory sig = EscrowSigning.sign(_payerKeys[i], EscrowSigning.closeDigest(escrow, req));
        uint256[] memory before = _snapshotOwed();
        vm.prank(keepers[1]);
        try escrow.closeBySig(req, sig) {} catch {} // closed leases refuse, by design
        _recordAccrual(before);
    }

    function topUp(uint256 leaseSeed, uint256 amount) external {
        if (leases.length == 0) return;
        uint256 id = leases[leaseSeed % leases.length];
        amount = bound(amount, 1, 100e6);
        vm.prank(escrow.payerOf(id));
        try escrow.topUp(id, amount) {} catch {} // closed or depleted leases refuse, by design
    }

    function settle(uint256 leaseSeed, uint256 keeperSeed) external {
        if (leases.length == 0) return;
        uint256 id = leases[leaseSeed % leases.length];
        bool wasOpen = escrow.lease(id).open;
        uint256[] memory before = _snapshotOwed();
        vm.prank(keepers[keeperSeed % 2]);
        try escrow.settle(id) {} catch {}
        _recordAccrual(before);
        if (!wasOpen && escrow.nodeOwed(escrow.lease(id).nodeId) != before[_nodeIndex(escrow.lease(id).nodeId)]) {
            closedAccrualViolations += 1;
        }
    }

    function settleMany(uint256 keeperSeed) external {
        uint256[] memory before = _snapshotOwed();
        vm.prank(keepers[keeperSeed % 2]);
        escrow.settleMany(leases);
        _recordAccrual(before);
    }

    function close(uint256 leaseSeed, bool byProvider) external {
        if (leases.length == 0) return;
        uint256 id = leases[leaseSeed % leases.length];
        uint256[] memory before = _snapshotOwed();
        vm.prank(byProvider ? provider : escrow.payerOf(id));
        try escrow.close(id) {} catch {}
        _recordAccrual(before);
    }

    function withdraw(uint256 nodeSeed) external {
        uint64 nodeId = nodes[nodeSeed % nodes.length];
        uint256 owed = escrow.nodeOwed(nodeId);
        if (owed == 0) return;
        address payee = registry.nodePayee(nodeId);
        uint256 before = token.balanceOf(payee);
        vm.prank(payee);
        escrow.withdraw(nodeId);
        withdrawnByNode[nodeId] += token.balanceOf(payee) - before;
    }

    function withdrawTips(uint256 keeperSeed) external {
        address k = keepers[keeperSeed % 2];
        if (escrow.tipsOwed(k) == 0) return;
        vm.prank(k);
        escrow.withdrawTips();
    }

    function withdrawFees() external {
        if (escrow.feesOwed() == 0) return;
        escrow.withdrawFees();
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 3 days));
    }

    function seize(uint256 amount) external {
        amount = bound(amount, 1, 2 * collateralTotal);
        _refSeq += 1;
        vm.prank(seizer);
        try registry.seize(provider, amount, bytes32(_refSeq), bytes32(0)) {
            seizedTotal += amount;
        } catch {}
    }

    function _nodeIndex(uint64 nodeId) private view returns (uint256) {
        for (uint256 i = 0; i < nodes.length; ++i) {
            if (nodes[i] == nodeId) return i;
        }
        return 0;
    }
}

contract MarketplaceInvariantTest is MarketplaceFixture {
    MarketplaceHandler internal handler;

    function setUp() public {
        _deployMarketplace();
        _registerApproved(provider, MIN_COLLATERAL);
        uint64[] memory nodes = new uint64[](3);
        nodes[0] = _addNode(provider, address(0));
        nodes[1] = _addNode(provider, address(0));
        nodes[2] = _addNode(provider, alliance);
        handler = new MarketplaceHandler(token, registry, escrow, seizer, provider, nodes, MIN_COLLATERAL);
        for (uint256 i = 0; i < 3; ++i) _fundPayer(handler.payers(i), 1_000_000e6);
        targetContract(address(handler));
    }

    /// Credit held by the escrow == sum of lease balances + node owed + keeper tips + fees owed.
    function invariant_EscrowHoldsExactlyWhatItOwes() public view {
        uint256 sum = escrow.feesOwed();
        for (uint256 i = 0; i < handler.leaseCount(); ++i) sum += escrow.lease(handler.leases(i)).balance;
        for (uint256 i = 0; i < handler.nodeCount(); ++i) sum += escrow.nodeOwed(handler.nodes(i));
        for (uint256 i = 0; i < 2; ++i) sum += escrow.tipsOwed(handler.keeperAt(i));
        assertEq(token.balanceOf(address(escrow)), sum);
    }

    /// No payee withdraws more than its node accrued; what is left is exactly what is owed.
    function invariant_NoWithdrawalBeyondAccrued() public view {
        for (uint256 i = 0; i < handler.nodeCount(); ++i) {
            uint64 nodeId = handler.nodes(i);
            assertLe(handler.withdrawnByNode(nodeId), handler.accruedToNode(nodeId));
            assertEq(handler.accruedToNode(nodeId) - handler.withdrawnByNode(nodeId), escrow.nodeOwed(nodeId));
        }
    }

    /// A closed lease has no balance, nothing due, and settling it never credited anyone.
    function invariant_ClosedLeaseAccruesNothing() public view {
        assertEq(handler.closedAccrualViolations(), 0);
        for (uint256 i = 0; i < handler.leaseCount(); ++i) {
            uint256 id = handler.leases(i);
            if (!escrow.lease(id).open) {
                assertEq(escrow.lease(id).balance, 0);
                assertEq(escrow.dueNow(id), 0);
            }
        }
    }

    /// Seizures never exceed the collateral; the registry holds exactly the collateral left.
    function invariant_SeizeNeverExceedsCollateral() public view {
        assertLe(handler.seizedTotal(), MIN_COLLATERAL);
        assertEq(registry.providerInfo(provider).collateral, MIN_COLLATERAL - handler.seizedTotal());
        assertEq(token.balanceOf(address(registry)), registry.providerInfo(provider).collateral);
        assertGe(token.balanceOf(treasury), handler.seizedTotal()); // plus fees withdrawn
    }
}
