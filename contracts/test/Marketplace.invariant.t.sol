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
import {FixedDiscountOracle, MarketplaceFixture} from "./MarketplaceFixture.sol";

/// @dev A discount oracle that always reverts (the escrow must open without a discount).
contract BrokenOracle {
    function discountBps(address) external pure returns (uint256) {
        revert("broken");
    }
}

/// @dev Who the handler acts as besides payers and keepers.
struct Actors {
    address admin;
    address engine;
    address operator;
    address pauser;
}

/// @dev Drives leases (open, top-up, auto top-up, settle, settleMany, close, their by-signature forms relayed by
/// a third party, time), withdrawals and seizures, fee changes, the discount oracle (a working one, a reverting
/// one, none), pause, provider suspension / re-approval / exit / collateral withdrawal, node removal and
/// maintenance; keeps ghost totals of what was accrued and withdrawn per node and when each node stopped.
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
    uint256 private immutable _quoteKey;
    Actors private _actors;
    FixedDiscountOracle public immutable goodOracle;
    BrokenOracle public immutable brokenOracle;
    /// When each node last stopped being active (0: active); a lease on a stopped node is never settled past it.
    mapping(uint64 nodeId => uint256 at) public stoppedAt;
    uint256 public stoppedAccrualViolations;
    uint256 public collateralWithdrawn;

    constructor(
        CreditToken token_,
        ProviderRegistry registry_,
        DeploymentEscrow escrow_,
        address seizer_,
        address provider_,
        uint64[] memory nodes_,
        uint256 collateral,
        uint256 quoteKey_,
        Actors memory actors_
    ) {
        _quoteKey = quoteKey_;
        _actors = actors_;
        goodOracle = new FixedDiscountOracle();
        brokenOracle = new BrokenOracle();
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

    function _q(address payer, uint64 nodeId, uint256 rate, bytes32 spec)
        private
        view
        returns (IDeploymentEscrow.QuoteSignature memory q)
    {
        q.expiry = block.timestamp;
        (q.r, q.vs) =
            vm.signCompact(_quoteKey, EscrowSigning.quoteDigest(escrow, payer, nodeId, rate, spec, q.expiry));
    }

    function _quoteFor(IDeploymentEscrow.OpenRequest memory req)
        private
        view
        returns (IDeploymentEscrow.QuoteSignature memory)
    {
        return _q(req.payer, req.nodeId, req.ratePerSecond, req.specHash);
    }

    /// @dev Every open lease on a node that is stopped now is settled no later than the stop.
    function _checkStopped() private {
        for (uint256 i = 0; i < leases.length; ++i) {
            IDeploymentEscrow.LeaseView memory l = escrow.lease(leases[i]);
            uint256 at = stoppedAt[l.nodeId];
            if (l.open && at != 0 && !registry.isNodeActive(l.nodeId) && l.settledAt > at) {
                stoppedAccrualViolations += 1;
            }
        }
    }

    function _markStopped(uint64 nodeId) private {
        if (stoppedAt[nodeId] == 0) stoppedAt[nodeId] = block.timestamp;
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
        rate = bound(rate, 1, 1_000); // leases that outlive a few warps (up to 3 days each)
        deposit = bound(deposit, 1, 1_000e6);
        uint64 nodeId = nodes[nodeSeed % nodes.length];
        IDeploymentEscrow.QuoteSignature memory q = _q(payer, nodeId, rate, bytes32(rate));
        vm.prank(payer);
        try escrow.open(nodeId, rate, deposit, bytes32(rate), q) returns (uint256 id) {
            leases.push(id);
        } catch {} // inactive node or paused, by design
    }

    /// @dev Signed by the payer, submitted by a keeper; uses the payer's standing allowance (no permit).
    function openBySig(uint256 payerSeed, uint256 nodeSeed, uint256 rate, uint256 deposit) external {
        uint256 i = payerSeed % 3;
        IDeploymentEscrow.OpenRequest memory req = IDeploymentEscrow.OpenRequest({
            payer: payers[i],
            nodeId: nodes[nodeSeed % nodes.length],
            ratePerSecond: bound(rate, 1, 1_000),
            deposit: bound(deposit, 1, 1_000e6),
            specHash: bytes32(rate),
            nonce: escrow.nonces(payers[i]),
            deadline: block.timestamp
        });
        bytes memory sig = EscrowSigning.sign(_payerKeys[i], EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory none;
        IDeploymentEscrow.QuoteSignature memory q = _quoteFor(req);
        vm.prank(keepers[0]);
        try escrow.openBySig(req, q, none, sig) returns (uint256 id) {
            leases.push(id);
        } catch {} // inactive node or paused, by design
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
        _checkStopped();
        if (!wasOpen && escrow.nodeOwed(escrow.lease(id).nodeId) != before[_nodeIndex(escrow.lease(id).nodeId)]) {
            closedAccrualViolations += 1;
        }
    }

    function settleMany(uint256 keeperSeed) external {
        uint256[] memory before = _snapshotOwed();
        vm.prank(keepers[keeperSeed % 2]);
        escrow.settleMany(leases);
        _recordAccrual(before);
        _checkStopped();
    }

    function close(uint256 leaseSeed, bool byProvider) external {
        if (leases.length == 0) return;
        uint256 id = leases[leaseSeed % leases.length];
        uint256[] memory before = _snapshotOwed();
        vm.prank(byProvider ? provider : escrow.payerOf(id));
        try escrow.close(id) {} catch {}
        _recordAccrual(before);
        _checkStopped();
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

    // ---- issue 10: the economics around leases ---------------------------------------------------------

    function autoTopUp(uint256 leaseSeed, uint256 amount, uint256 maxPerDay, bool reconfigure) external {
        if (leases.length == 0) return;
        uint256 id = leases[leaseSeed % leases.length];
        address payer = escrow.payerOf(id);
        if (reconfigure) {
            vm.prank(payer);
            escrow.setAutoTopUp(bound(maxPerDay, 0, 200e6));
        }
        vm.prank(_actors.engine);
        try escrow.autoTopUp(id, bound(amount, 1, 100e6)) {} catch {} // over the bucket, closed, stopped, paused
    }

    function setFees(uint16 feeBps, uint16 shareBps, uint64 maxTip) external {
        vm.prank(_actors.admin);
        escrow.setFeeParams(uint16(bound(feeBps, 0, 2_000)), uint16(bound(shareBps, 0, 10_000)), uint64(bound(maxTip, 0, 1e6)));
    }

    function setOracle(uint256 which, uint256 discount) external {
        goodOracle.set(payers[which % 3], bound(discount, 0, 10_000));
        address oracle = which % 3 == 0 ? address(0) : which % 3 == 1 ? address(goodOracle) : address(brokenOracle);
        vm.prank(_actors.admin);
        escrow.setDiscountOracle(oracle);
    }

    function setPaused(bool paused_) external {
        vm.prank(_actors.pauser);
        escrow.setPaused(paused_);
    }

    function suspendOrApprove(bool suspend) external {
        vm.prank(_actors.operator);
        if (suspend) {
            try registry.suspendProvider(provider, "fuzz") {
                for (uint256 i = 0; i < nodes.length; ++i) _markStopped(nodes[i]);
            } catch {}
        } else {
            try registry.approveProvider(provider) {
                // Active again: new leases accrue; the old ones stay stopped (checked while stopped only).
                for (uint256 i = 0; i < nodes.length; ++i) {
                    if (registry.isNodeActive(nodes[i])) stoppedAt[nodes[i]] = 0;
                }
            } catch {}
        }
    }

    function exitProvider(bool withdrawNow) external {
        vm.prank(provider);
        try registry.requestExit() {
            for (uint256 i = 0; i < nodes.length; ++i) _markStopped(nodes[i]);
        } catch {}
        if (!withdrawNow) return;
        uint256 collateral = registry.providerInfo(provider).collateral;
        vm.prank(provider);
        try registry.withdrawCollateral() {
            collateralWithdrawn += collateral;
        } catch {} // cooldown, open leases (busy nodes) or claims
    }

    function removeNode(uint256 nodeSeed) external {
        uint64 nodeId = nodes[nodeSeed % nodes.length];
        vm.prank(provider);
        try registry.removeNode(nodeId) {
            _markStopped(nodeId);
        } catch {}
    }

    function maintenance(uint256 nodeSeed, uint32 delay, uint32 length, bool cancel) external {
        uint64 nodeId = nodes[nodeSeed % nodes.length];
        uint32 start = uint32(block.timestamp + 1 days + bound(delay, 0, 40 days));
        vm.prank(provider);
        try registry.scheduleMaintenance(nodeId, start, start + uint32(bound(length, 1, 6 hours))) {} catch {}
        if (cancel) {
            vm.prank(provider);
            try registry.cancelMaintenance(nodeId) {} catch {}
        }
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
        handler = new MarketplaceHandler(
            token,
            registry,
            escrow,
            seizer,
            provider,
            nodes,
            MIN_COLLATERAL,
            quoteKey,
            Actors({admin: admin, engine: engine, operator: operator, pauser: pauser})
        );
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

    /// A lease on a stopped node is never settled past the moment its node stopped.
    function invariant_StoppedLeasesAccrueNothing() public view {
        assertEq(handler.stoppedAccrualViolations(), 0);
    }

    /// Every open lease is counted on its node, and the registry's busy-node count matches.
    function invariant_OpenLeaseCounters() public view {
        uint256 busy = 0;
        for (uint256 n = 0; n < handler.nodeCount(); ++n) {
            uint64 nodeId = handler.nodes(n);
            uint256 open = 0;
            for (uint256 i = 0; i < handler.leaseCount(); ++i) {
                IDeploymentEscrow.LeaseView memory l = escrow.lease(handler.leases(i));
                if (l.open && l.nodeId == nodeId) ++open;
            }
            assertEq(escrow.openLeaseCount(nodeId), open);
            if (open != 0) ++busy;
        }
        assertEq(registry.providerInfo(provider).busyNodes, busy);
    }

    /// Seizures never exceed the collateral; the registry holds exactly the collateral left.
    function invariant_SeizeNeverExceedsCollateral() public view {
        assertLe(handler.seizedTotal() + handler.collateralWithdrawn(), MIN_COLLATERAL);
        assertEq(
            registry.providerInfo(provider).collateral,
            MIN_COLLATERAL - handler.seizedTotal() - handler.collateralWithdrawn()
        );
        assertEq(token.balanceOf(address(registry)), registry.providerInfo(provider).collateral);
        assertGe(token.balanceOf(treasury), handler.seizedTotal()); // plus fees withdrawn
    }
}
