// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {IProviderRegistry} from "../src/interfaces/IProviderRegistry.sol";
import {EscrowSigning} from "./EscrowSigning.sol";
import {FixedDiscountOracle, MarketplaceFixture} from "./MarketplaceFixture.sol";

/// @dev An oracle that reverts.
contract RevertingOracle {
    function discountBps(address) external pure returns (uint256) {
        revert("down");
    }
}

/// @dev An oracle that burns all the gas it is given.
contract GasGuzzlingOracle {
    function discountBps(address) external view returns (uint256 x) {
        while (gasleft() > 100) x += 1;
    }
}

/// @dev An oracle that needs `BURN` gas (close to the escrow's 30_000 cap) before it answers 10%.
contract HeavyOracle {
    uint256 internal constant BURN = 25_000;

    function discountBps(address) external view returns (uint256) {
        uint256 start = gasleft();
        while (start - gasleft() < BURN) {}
        return 1_000;
    }
}

/// @dev An oracle returning fewer than 32 bytes.
contract ShortOracle {
    fallback() external {
        assembly {
            mstore(0, 0x1234)
            return(0, 2)
        }
    }
}

/**
 * @dev One test (or more) per point of issue 10; each fails on the contracts before the issue (the old code
 * had no quote, calendar limits, no stops, retroactive fees, no pause, a blocking oracle, per-lease maxTip in
 * settleMany and a fee rounded up).
 */
contract Issue10Test is MarketplaceFixture {
    uint256 internal constant RATE = 1_000;
    uint256 internal constant DEPOSIT = 100e6;
    bytes32 internal constant SPEC = keccak256("spec");

    function setUp() public {
        _deployMarketplace();
        _registerApproved(provider, MIN_COLLATERAL);
        node = _addNode(provider, address(0));
        _fundPayer(payer, 1_000e6);
    }

    // ---- 1. quoted price ------------------------------------------------------------------------------

    function test_Quote_EditedTermsRevert() public {
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, RATE, SPEC);
        uint64 other = _addNode(provider, address(0));
        vm.startPrank(payer);
        // Edited rate (the 1/1000 attack), node, spec: another signer is recovered.
        vm.expectRevert();
        escrow.open(node, RATE / 1000, DEPOSIT, SPEC, q);
        vm.expectRevert();
        escrow.open(other, RATE, DEPOSIT, SPEC, q);
        vm.expectRevert();
        escrow.open(node, RATE, DEPOSIT, keccak256("other spec"), q);
        vm.stopPrank();
        // Another payer cannot use it.
        _fundPayer(keeper, 1_000e6);
        vm.prank(keeper);
        vm.expectRevert();
        escrow.open(node, RATE, DEPOSIT, SPEC, q);
        // The quoted terms open, and the deposit is free (not quoted).
        vm.prank(payer);
        uint256 id = escrow.open(node, RATE, DEPOSIT + 1, SPEC, q);
        assertEq(escrow.lease(id).ratePerSecond, RATE);
    }

    function test_Quote_RevertsWithCustomErrors() public {
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, RATE, SPEC);
        address signer = vm.addr(quoteKey);
        // The edited rate recovers some other address, which holds no role.
        bytes32 digest = EscrowSigning.quoteDigest(escrow, payer, node, RATE - 1, SPEC, q.expiry);
        address recovered = ecrecover(digest, _v(q.vs), q.r, q.vs & bytes32(type(uint256).max >> 1));
        assertTrue(recovered != signer);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidQuote.selector, recovered));
        vm.prank(payer);
        escrow.open(node, RATE - 1, DEPOSIT, SPEC, q);
        // Expired (expiry inclusive).
        vm.warp(q.expiry + 1);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.QuoteExpired.selector, q.expiry));
        vm.prank(payer);
        escrow.open(node, RATE, DEPOSIT, SPEC, q);
    }

    function test_Quote_MinterOrAnyoneElseCannotSign() public {
        uint256 minterKey = uint256(keccak256("minter key"));
        address minterSigner = vm.addr(minterKey);
        vm.startPrank(admin);
        token.grantRole(token.MINTER_ROLE(), minterSigner);
        escrow.grantRole(escrow.TOPUP_ROLE(), minterSigner);
        vm.stopPrank();
        IDeploymentEscrow.QuoteSignature memory q = _quoteBy(minterKey, payer, node, RATE, SPEC);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidQuote.selector, minterSigner));
        vm.prank(payer);
        escrow.open(node, RATE, DEPOSIT, SPEC, q);
        // The payer signing its own quote is no better.
        (address self, uint256 selfKey) = makeAddrAndKey("self-quoter");
        _fundPayer(self, DEPOSIT);
        q = _quoteBy(selfKey, self, node, 1, SPEC);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidQuote.selector, self));
        vm.prank(self);
        escrow.open(node, 1, DEPOSIT, SPEC, q);
        // Revoking the quote signer invalidates its outstanding quotes.
        q = _quote(payer, node, RATE, SPEC);
        vm.startPrank(admin);
        escrow.revokeRole(escrow.QUOTE_SIGNER_ROLE(), quoteSigner);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidQuote.selector, quoteSigner));
        vm.prank(payer);
        escrow.open(node, RATE, DEPOSIT, SPEC, q);
    }

    function test_Quote_OpenBySigNeedsQuoteForThePayer() public {
        (address managed, uint256 key) = makeAddrAndKey("managed");
        _fundPayer(managed, DEPOSIT);
        IDeploymentEscrow.OpenRequest memory req = IDeploymentEscrow.OpenRequest({
            payer: managed,
            nodeId: node,
            ratePerSecond: RATE,
            deposit: DEPOSIT,
            specHash: SPEC,
            nonce: 0,
            deadline: block.timestamp + 1 hours
        });
        bytes memory sig = EscrowSigning.sign(key, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory none;
        // A quote issued to someone else (same node, rate, spec) does not serve.
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, RATE, SPEC);
        vm.expectRevert();
        escrow.openBySig(req, q, none, sig);
        escrow.openBySig(req, _quoteFor(req), none, sig);
    }

    function test_Quote_DigestMatchesTypeString() public view {
        assertEq(
            escrow.digestQuote(payer, node, RATE, SPEC, 123),
            EscrowSigning.quoteDigest(escrow, payer, node, RATE, SPEC, 123)
        );
    }

    /// Cross-language vector for chain/quotes.py (tests/unit/chain/test_quotes.py): fixed chain id, escrow
    /// address, key and terms; the printed digest and signature are hard-coded on the Python side.
    function test_Quote_PythonVector() public {
        vm.chainId(31337);
        address at = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
        vm.etch(at, address(escrow).code);
        bytes32 typeHash = keccak256(bytes(EscrowSigning.QUOTE_TYPE));
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("CloudmarketEscrow"),
                keccak256("1"),
                uint256(31337),
                at
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                typeHash,
                address(0x70997970C51812dc3A010C7d01b50e0d17dc79C8),
                uint64(7),
                uint256(1234),
                keccak256("spec-vector"),
                uint256(1_800_000_000)
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", domain, structHash));
        // The escrow code at `at` computes the same digest.
        (bool ok, bytes memory ret) = at.staticcall(
            abi.encodeCall(
                escrow.digestQuote,
                (
                    address(0x70997970C51812dc3A010C7d01b50e0d17dc79C8),
                    uint64(7),
                    uint256(1234),
                    keccak256("spec-vector"),
                    uint256(1_800_000_000)
                )
            )
        );
        assertTrue(ok);
        assertEq(abi.decode(ret, (bytes32)), digest);
        uint256 key = 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80; // anvil account 0
        (bytes32 r, bytes32 vs) = vm.signCompact(key, digest);
        emit log_named_bytes32("quote digest", digest);
        emit log_named_bytes32("quote r", r);
        emit log_named_bytes32("quote vs", vs);
        assertEq(digest, QUOTE_VECTOR_DIGEST);
        assertEq(r, QUOTE_VECTOR_R);
        assertEq(vs, QUOTE_VECTOR_VS);
    }

    bytes32 internal constant QUOTE_VECTOR_DIGEST = 0x9280b932b59e5bd88bfd6cf51fdc408762bcaaac5710e7a0fa4aa33871803c25;
    bytes32 internal constant QUOTE_VECTOR_R = 0x669d6bbd18d2c1e8b05118f6ed27ebc582c587c09f5a62d66c3d9b3a5e99cc50;
    bytes32 internal constant QUOTE_VECTOR_VS = 0xe8920a149b548dd1fb168df57c29c053b2608879ddc898b2d1e05b379dcb5671;

    function _v(bytes32 vs) private pure returns (uint8) {
        return uint8((uint256(vs) >> 255) + 27);
    }

    // ---- 2. rolling limits ----------------------------------------------------------------------------

    /// The issue's exploit: windows scheduled and cancelled across a calendar-month boundary reset the count.
    /// Now no 30-day span holds more than MAX_WINDOWS starts, cancelled ones included.
    function test_Maintenance_BoundedOverAny30DaySpan() public {
        uint256 monthEnd = (block.timestamp / 30 days + 1) * 30 days;
        vm.warp(monthEnd - 2 days);
        uint32 a = uint32(block.timestamp + MIN_NOTICE); // month M
        uint32 b = uint32(monthEnd + 1 hours); // month M+1, one day later
        vm.startPrank(provider);
        registry.scheduleMaintenance(node, a, a + 1 hours);
        registry.cancelMaintenance(node);
        registry.scheduleMaintenance(node, b, b + 1 hours);
        registry.cancelMaintenance(node); // cancelling refunds nothing
        // Old code: month M's counter was forgotten once M+1 was used; a third window in M was accepted.
        uint32 c = a + 2 hours;
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.MonthlyWindowLimitReached.selector, node, c));
        registry.scheduleMaintenance(node, c, c + 1 hours);
        uint32 d = b + 2 hours;
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.MonthlyWindowLimitReached.selector, node, d));
        registry.scheduleMaintenance(node, d, d + 1 hours);
        // 30 days after the first start there is room again (the second start still counts).
        uint32 e = a + 30 days;
        registry.scheduleMaintenance(node, e, e + 1 hours);
        vm.stopPrank();
    }

    /// Fuzz: whatever the provider schedules and cancels, no 30-day span holds more than MAX_WINDOWS
    /// accepted windows (so at most MAX_WINDOWS * MAX_WINDOW seconds of maintenance).
    function testFuzz_Maintenance_NoSpanExceedsCap(uint32[12] memory gaps, bool[12] memory cancel) public {
        uint32[] memory starts = new uint32[](12);
        uint256 n = 0;
        for (uint256 i = 0; i < 12; ++i) {
            vm.warp(block.timestamp + bound(gaps[i], 1 hours, 20 days));
            uint32 s = uint32(block.timestamp + MIN_NOTICE + bound(gaps[i], 0, 3 days));
            vm.prank(provider);
            try registry.scheduleMaintenance(node, s, s + MAX_WINDOW) {
                starts[n++] = s;
                if (cancel[i]) {
                    vm.prank(provider);
                    registry.cancelMaintenance(node);
                } else {
                    vm.warp(s + MAX_WINDOW);
                }
            } catch {}
        }
        for (uint256 i = 0; i < n; ++i) {
            uint256 inSpan = 0;
            for (uint256 j = 0; j < n; ++j) {
                if (starts[j] >= starts[i] && starts[j] < uint256(starts[i]) + 30 days) ++inSpan;
            }
            assertLe(inSpan, MAX_WINDOWS);
        }
    }

    function test_RevertWhen_ConfigAllowsMoreWindowsThanRemembered() public {
        IProviderRegistry.RegistryConfig memory cfg = registry.config();
        cfg.maxWindowsPerMonth = 9;
        vm.expectRevert(IProviderRegistry.InvalidConfig.selector);
        vm.prank(admin);
        registry.setConfig(cfg);
    }

    /// The issue's exploit: 2 x maxPerDay within one second across UTC midnight. Now any 24-hour window
    /// holds at most maxPerDay.
    function test_AutoTopUp_NoTwoDaysAcrossMidnight() public {
        uint256 id = _open(payer, node, 1, DEPOSIT);
        vm.prank(payer);
        escrow.setAutoTopUp(10e6);
        vm.warp((block.timestamp / 1 days + 1) * 1 days - 1); // 23:59:59
        vm.startPrank(engine);
        escrow.autoTopUp(id, 5e6); // the whole bucket
        vm.warp(block.timestamp + 1); // 00:00:00
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.AutoTopUpExceeded.selector, payer, 5e6, 57));
        escrow.autoTopUp(id, 5e6);
        vm.stopPrank();
    }

    /// Fuzz: a sequence of pulls at arbitrary times never puts more than maxPerDay in any 24-hour window.
    function testFuzz_AutoTopUp_AnyDayWindowBounded(uint32[10] memory gaps, uint96[10] memory amounts) public {
        uint256 cap = 10e6;
        uint256 id = _open(payer, node, 1, DEPOSIT);
        vm.prank(payer);
        escrow.setAutoTopUp(cap);
        uint256[10] memory at;
        uint256[10] memory pulled;
        for (uint256 i = 0; i < 10; ++i) {
            vm.warp(block.timestamp + bound(gaps[i], 0, 20 hours));
            (, uint256 available) = escrow.autoTopUpOf(payer);
            uint256 amount = bound(amounts[i], 0, available);
            at[i] = block.timestamp;
            if (amount == 0) continue;
            vm.prank(engine);
            escrow.autoTopUp(id, amount);
            pulled[i] = amount;
        }
        for (uint256 i = 0; i < 10; ++i) {
            uint256 sum = 0;
            for (uint256 j = i; j < 10 && at[j] < at[i] + 1 days; ++j) sum += pulled[j];
            assertLe(sum, cap);
        }
    }

    // ---- 3. leases stop with their node ---------------------------------------------------------------

    function _stopsSetUp() private returns (uint256 id) {
        id = _open(payer, node, RATE, DEPOSIT);
        vm.warp(block.timestamp + 100);
    }

    function _assertStoppedAfter(uint256 id, uint256 accrued) private {
        uint256 nodeShare = accrued - _fee(accrued);
        vm.warp(block.timestamp + 1 days);
        assertEq(escrow.dueNow(id), accrued - (DEPOSIT - escrow.lease(id).balance));
        escrow.settle(id);
        assertEq(escrow.nodeOwed(node), nodeShare);
        assertEq(escrow.lease(id).balance, DEPOSIT - accrued);
        vm.warp(block.timestamp + 1 days);
        uint256[] memory ids = new uint256[](1);
        ids[0] = id;
        escrow.settleMany(ids);
        assertEq(escrow.nodeOwed(node), nodeShare);
        // The payer closes and gets the rest back.
        uint256 before = token.balanceOf(payer);
        vm.prank(payer);
        escrow.close(id);
        assertEq(token.balanceOf(payer) - before, DEPOSIT - accrued);
        assertEq(escrow.openLeaseCount(node), 0);
        assertEq(registry.providerInfo(provider).busyNodes, 0);
    }

    function test_Stop_NodeRemoved() public {
        uint256 id = _stopsSetUp();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.NodeRemoved(node);
        vm.prank(provider);
        registry.removeNode(node);
        _assertStoppedAfter(id, 100 * RATE);
    }

    function test_Stop_ProviderSuspended() public {
        uint256 id = _stopsSetUp();
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProviderRegistry.ProviderDeactivated(provider, block.timestamp);
        vm.prank(operator);
        registry.suspendProvider(provider, "sla");
        _assertStoppedAfter(id, 100 * RATE);
    }

    function test_Stop_ProviderExiting() public {
        uint256 id = _stopsSetUp();
        vm.prank(provider);
        registry.requestExit();
        _assertStoppedAfter(id, 100 * RATE);
    }

    function test_Stop_SettleEmitsLeaseStoppedAndTopUpRefused() public {
        uint256 id = _stopsSetUp();
        vm.prank(provider);
        registry.removeNode(node);
        uint256 stoppedAt = block.timestamp;
        vm.warp(block.timestamp + 50);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IDeploymentEscrow.LeaseStopped(id, stoppedAt);
        escrow.settle(id);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.NodeNotActive.selector, node));
        vm.prank(payer);
        escrow.topUp(id, 1e6);
    }

    /// A lease settled in the very second its node stops accrues nothing afterwards.
    function test_Stop_SettledInTheSameSecond() public {
        uint256 id = _stopsSetUp();
        escrow.settle(id);
        vm.prank(operator);
        registry.suspendProvider(provider, "sla");
        vm.warp(block.timestamp + 1 days);
        assertEq(escrow.dueNow(id), 0);
        uint256 owed = escrow.nodeOwed(node);
        escrow.settle(id);
        assertEq(escrow.nodeOwed(node), owed);
    }

    /// Re-approval does not revive leases that lived through the suspension; new leases accrue.
    function test_Stop_ReapprovalKeepsOldLeasesStopped() public {
        uint256 id = _stopsSetUp();
        vm.prank(operator);
        registry.suspendProvider(provider, "sla");
        vm.warp(block.timestamp + 1 hours);
        vm.prank(operator);
        registry.approveProvider(provider);
        uint256 fresh = _open(payer, node, RATE, DEPOSIT);
        vm.warp(block.timestamp + 1 hours);
        assertEq(escrow.dueNow(id), 100 * RATE);
        assertEq(escrow.dueNow(fresh), 3600 * RATE);
        uint256[] memory ids = new uint256[](2);
        (ids[0], ids[1]) = (id, fresh);
        escrow.settleMany(ids);
        assertEq(escrow.lease(id).balance, DEPOSIT - 100 * RATE);
        assertEq(escrow.lease(fresh).balance, DEPOSIT - 3600 * RATE);
    }

    function test_Stop_OtherNodesKeepAccruing() public {
        uint64 other = _addNode(provider, alliance);
        uint256 a = _open(payer, node, RATE, DEPOSIT);
        uint256 b = _open(payer, other, RATE, DEPOSIT);
        vm.warp(block.timestamp + 10);
        vm.prank(provider);
        registry.removeNode(node);
        vm.warp(block.timestamp + 90);
        uint256[] memory ids = new uint256[](2);
        (ids[0], ids[1]) = (a, b);
        escrow.settleMany(ids);
        assertEq(escrow.lease(a).balance, DEPOSIT - 10 * RATE);
        assertEq(escrow.lease(b).balance, DEPOSIT - 100 * RATE);
    }

    function test_Stop_NoCollateralWithdrawalWithOpenLeasesOrClaims() public {
        uint256 id = _open(payer, node, RATE, DEPOSIT);
        assertEq(escrow.openLeaseCount(node), 1);
        assertEq(registry.providerInfo(provider).busyNodes, 1);
        vm.prank(seizer);
        registry.raiseClaim(provider, "claim-1");
        vm.prank(provider);
        registry.requestExit();
        vm.warp(block.timestamp + EXIT_COOLDOWN);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.OpenClaims.selector, provider, 1));
        vm.prank(provider);
        registry.withdrawCollateral();
        vm.prank(seizer);
        registry.seize(provider, 1e6, "claim-1", bytes32(0)); // resolves the claim
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.OpenLeases.selector, provider, 1));
        vm.prank(provider);
        registry.withdrawCollateral();
        vm.prank(provider);
        escrow.close(id); // the provider may close (the payer is refunded)
        vm.prank(provider);
        registry.withdrawCollateral();
        assertEq(token.balanceOf(provider), MIN_COLLATERAL - 1e6);
    }

    function test_Stop_ClaimsDismissed() public {
        vm.startPrank(seizer);
        registry.raiseClaim(provider, "c");
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.InvalidClaim.selector, bytes32("c")));
        registry.raiseClaim(provider, "c");
        registry.dismissClaim("c");
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.InvalidClaim.selector, bytes32("c")));
        registry.dismissClaim("c");
        vm.stopPrank();
        assertEq(registry.providerInfo(provider).openClaims, 0);
    }

    function test_Stop_EmptiedLeaseReleasesCounter() public {
        uint256 id = _open(payer, node, 100, 1_000);
        vm.warp(block.timestamp + 5);
        uint256[] memory ids = new uint256[](1);
        ids[0] = id;
        escrow.settleMany(ids);
        assertEq(escrow.openLeaseCount(node), 1);
        assertEq(registry.providerInfo(provider).busyNodes, 1);
        vm.warp(block.timestamp + 5);
        escrow.settleMany(ids);
        assertFalse(escrow.lease(id).open);
        assertEq(escrow.openLeaseCount(node), 0);
        assertEq(registry.providerInfo(provider).busyNodes, 0);
    }

    function test_RevertWhen_NotRegistryCallsNodesStopped() public {
        vm.expectRevert(IDeploymentEscrow.NotRegistry.selector);
        escrow.nodesStopped();
    }

    // ---- 4. admin changes apply forward ---------------------------------------------------------------

    /// A fee rise does not reach running leases (old code: it applied to all unsettled time).
    function test_Fee_ChangeAppliesOnlyToNewLeases() public {
        uint256 old = _open(payer, node, RATE, DEPOSIT);
        vm.warp(block.timestamp + 1_000);
        vm.prank(admin);
        escrow.setFeeParams(2_000, KEEPER_SHARE_BPS, MAX_TIP);
        uint256 fresh = _open(payer, node, RATE, DEPOSIT);
        vm.warp(block.timestamp + 1_000);
        vm.prank(payer);
        escrow.close(old);
        uint256 due = 2_000 * RATE;
        assertEq(escrow.feesOwed(), due * FEE_BPS / 10_000);
        vm.prank(payer);
        escrow.close(fresh);
        assertEq(escrow.feesOwed(), due * FEE_BPS / 10_000 + 1_000 * RATE * 2_000 / 10_000);
        (uint256 feeBps,,) = escrow.feeParams();
        assertEq(feeBps, 2_000);
    }

    /// Old code read exitCooldown at withdrawal: setting it to 0 released an exiting provider at once.
    function test_Exit_AvailabilityFixedAtRequest() public {
        vm.prank(provider);
        registry.requestExit();
        uint256 availableAt = block.timestamp + EXIT_COOLDOWN;
        assertEq(registry.providerInfo(provider).exitAvailableAt, availableAt);
        IProviderRegistry.RegistryConfig memory cfg = registry.config();
        cfg.exitCooldown = 0;
        vm.prank(admin);
        registry.setConfig(cfg);
        vm.expectRevert(abi.encodeWithSelector(IProviderRegistry.ExitCooldownActive.selector, provider, availableAt));
        vm.prank(provider);
        registry.withdrawCollateral();
        vm.warp(availableAt);
        vm.prank(provider);
        registry.withdrawCollateral();
    }

    function test_Admin_TwoStepDelayedTransferOnEveryContract() public {
        address next = makeAddr("next admin");
        address[3] memory targets = [address(token), address(registry), address(escrow)];
        for (uint256 i = 0; i < 3; ++i) {
            IAccessControlDefaultAdminRules c = IAccessControlDefaultAdminRules(targets[i]);
            assertEq(c.defaultAdminDelay(), 2 days);
            // A direct grant of the admin role is refused.
            vm.expectRevert();
            vm.prank(admin);
            IAccessControl(targets[i]).grantRole(bytes32(0), next);
            vm.prank(admin);
            c.beginDefaultAdminTransfer(next);
            vm.expectRevert();
            vm.prank(next);
            c.acceptDefaultAdminTransfer();
        }
        vm.warp(block.timestamp + 2 days + 1);
        for (uint256 i = 0; i < 3; ++i) {
            vm.prank(next);
            IAccessControlDefaultAdminRules(targets[i]).acceptDefaultAdminTransfer();
            assertEq(IAccessControlDefaultAdminRules(targets[i]).defaultAdmin(), next);
        }
    }

    function test_Pause_StopsOpensAndTopUpsOnly() public {
        uint256 id = _open(payer, node, RATE, DEPOSIT);
        vm.prank(payer);
        escrow.setAutoTopUp(10e6);
        vm.warp(block.timestamp + 100);
        vm.expectRevert();
        vm.prank(payer);
        escrow.setPaused(true); // not the pauser
        vm.prank(pauser);
        escrow.setPaused(true);
        assertTrue(escrow.paused());
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, RATE, SPEC);
        vm.expectRevert(IDeploymentEscrow.EnforcedPause.selector);
        vm.prank(payer);
        escrow.open(node, RATE, DEPOSIT, SPEC, q);
        vm.expectRevert(IDeploymentEscrow.EnforcedPause.selector);
        vm.prank(payer);
        escrow.topUp(id, 1e6);
        vm.expectRevert(IDeploymentEscrow.EnforcedPause.selector);
        vm.prank(engine);
        escrow.autoTopUp(id, 1e6);
        // Settling, closing, refunds and withdrawals go on.
        escrow.settle(id);
        vm.prank(payer);
        escrow.close(id);
        vm.prank(provider);
        escrow.withdraw(node);
        escrow.withdrawFees();
        vm.prank(pauser);
        escrow.setPaused(false);
        _open(payer, node, RATE, DEPOSIT);
    }

    // ---- 5. smaller points ----------------------------------------------------------------------------

    function _openWithOracle(address oracle) private returns (uint256) {
        vm.prank(admin);
        escrow.setDiscountOracle(oracle);
        return _open(payer, node, RATE, DEPOSIT);
    }

    function test_Oracle_FailureMeansNoDiscount() public {
        assertEq(escrow.lease(_openWithOracle(address(new RevertingOracle()))).ratePerSecond, RATE);
        assertEq(escrow.lease(_openWithOracle(makeAddr("no code"))).ratePerSecond, RATE);
        assertEq(escrow.lease(_openWithOracle(address(new GasGuzzlingOracle()))).ratePerSecond, RATE);
        assertEq(escrow.lease(_openWithOracle(address(new ShortOracle()))).ratePerSecond, RATE);
        FixedDiscountOracle good = new FixedDiscountOracle();
        good.set(payer, 1_000);
        assertEq(escrow.lease(_openWithOracle(address(good))).ratePerSecond, RATE * 9 / 10);
    }

    /// A relayer cannot strip the discount by giving the transaction too little gas: no gas limit opens the
    /// lease without it (a starved oracle call reverts the open).
    function test_Oracle_StarvedCallReverts() public {
        FixedDiscountOracle good = new FixedDiscountOracle();
        good.set(payer, 1_000);
        vm.prank(admin);
        escrow.setDiscountOracle(address(good));
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, RATE, SPEC);
        bytes memory data = abi.encodeCall(escrow.open, (node, RATE, DEPOSIT, SPEC, q));
        bool opened = false;
        for (uint256 g = 20_000; g < 200_000 && !opened; g += 250) {
            vm.prank(payer);
            (bool ok, bytes memory ret) = address(escrow).call{gas: g}(data);
            if (ok) {
                opened = true;
                assertEq(escrow.lease(abi.decode(ret, (uint256))).ratePerSecond, RATE * 9 / 10); // never without
            }
        }
        assertTrue(opened);
    }

    /// The oracle call is gas-capped: an oracle that burns all it is given costs the open at most the cap, so an
    /// open with an ordinary gas limit goes through without the discount (uncapped, it would starve the open).
    function test_Oracle_GasCapped() public {
        address oracle = address(new GasGuzzlingOracle());
        vm.prank(admin);
        escrow.setDiscountOracle(oracle);
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, RATE, SPEC);
        vm.prank(payer);
        (bool ok, bytes memory ret) =
            address(escrow).call{gas: 300_000}(abi.encodeCall(escrow.open, (node, RATE, DEPOSIT, SPEC, q)));
        assertTrue(ok);
        assertEq(escrow.lease(abi.decode(ret, (uint256))).ratePerSecond, RATE);
    }

    /// An oracle call that fails because the transaction left it too little gas reverts the open with
    /// `DiscountOracleStarved()` (never an open without the payer's discount).
    function test_Oracle_StarvedCallRevertsWithItsError() public {
        address oracle = address(new HeavyOracle());
        vm.prank(admin);
        escrow.setDiscountOracle(oracle);
        IDeploymentEscrow.QuoteSignature memory q = _quote(payer, node, RATE, SPEC);
        bytes memory data = abi.encodeCall(escrow.open, (node, RATE, DEPOSIT, SPEC, q));
        bool starved = false;
        bool opened = false;
        for (uint256 g = 20_000; g < 300_000 && !opened; g += 250) {
            vm.prank(payer);
            (bool ok, bytes memory ret) = address(escrow).call{gas: g}(data);
            if (ok) {
                opened = true;
                assertEq(escrow.lease(abi.decode(ret, (uint256))).ratePerSecond, RATE * 9 / 10);
            } else if (
                keccak256(ret) == keccak256(abi.encodeWithSelector(IDeploymentEscrow.DiscountOracleStarved.selector))
            ) {
                starved = true;
            }
        }
        assertTrue(starved);
        assertTrue(opened);
    }

    /// maxTip caps the tip of a whole settleMany call (old code: per lease).
    function test_MaxTip_PerCall() public {
        vm.prank(admin);
        escrow.setFeeParams(FEE_BPS, 10_000, 100); // the whole fee is tip, capped at 100 per call
        uint256[] memory ids = new uint256[](3);
        for (uint256 i = 0; i < 3; ++i) ids[i] = _open(payer, node, RATE, DEPOSIT);
        vm.warp(block.timestamp + 100); // fee per lease: 100_000 * 5% = 5_000
        vm.prank(keeper);
        escrow.settleMany(ids);
        assertEq(escrow.tipsOwed(keeper), 100);
        assertEq(escrow.feesOwed(), 3 * 5_000 - 100);
    }

    /// A 1 unit/s lease settled every second pays the node every second (old code: the fee took it all).
    function test_Rounding_NodeAlwaysGetsItsShare() public {
        vm.prank(admin);
        escrow.setFeeParams(2_000, KEEPER_SHARE_BPS, MAX_TIP);
        uint256 id = _open(payer, node, 1, DEPOSIT);
        for (uint256 i = 1; i <= 20; ++i) {
            vm.warp(block.timestamp + 1);
            escrow.settle(id);
            assertEq(escrow.nodeOwed(node), i);
        }
    }
}
