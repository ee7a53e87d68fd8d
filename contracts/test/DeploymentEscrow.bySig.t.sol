// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {EscrowSigning, OwnedWallet} from "./EscrowSigning.sol";
import {FixedDiscountOracle, MarketplaceFixture} from "./MarketplaceFixture.sol";

/// @dev Meta-transactions: a managed payer (credit, no ETH, no allowance) signs; the engine relays.
contract DeploymentEscrowBySigTest is MarketplaceFixture {
    uint256 internal constant RATE = 1_000;
    uint256 internal constant DEPOSIT = 100e6;
    uint256 internal constant FUNDS = 1_000e6;

    address internal managed;
    uint256 internal managedKey;
    address internal relayer = makeAddr("relayer");

    function setUp() public {
        _deployMarketplace();
        _registerApproved(provider, MIN_COLLATERAL);
        node = _addNode(provider, address(0));
        (managed, managedKey) = makeAddrAndKey("managed");
        _mint(managed, FUNDS); // credit only: no ETH, no allowance
    }

    // ---- helpers ------------------------------------------------------------------------------------

    function _openReq(uint256 nonce) internal view returns (IDeploymentEscrow.OpenRequest memory) {
        return IDeploymentEscrow.OpenRequest({
            payer: managed,
            nodeId: node,
            ratePerSecond: RATE,
            deposit: DEPOSIT,
            specHash: keccak256("spec"),
            nonce: nonce,
            deadline: block.timestamp + 1 hours
        });
    }

    function _permit(uint256 value) internal view returns (IDeploymentEscrow.Permit memory) {
        return EscrowSigning.permit(token, managedKey, address(escrow), value, block.timestamp + 1 hours);
    }

    function _noPermit() internal pure returns (IDeploymentEscrow.Permit memory p) {}

    function _openBySig() internal returns (uint256 id) {
        IDeploymentEscrow.OpenRequest memory req = _openReq(escrow.nonces(managed));
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(DEPOSIT);
        vm.prank(relayer);
        id = escrow.openBySig(req, _quoteFor(req), p, sig);
    }

    function _closeReq(uint256 id, address who) internal view returns (IDeploymentEscrow.CloseRequest memory) {
        return IDeploymentEscrow.CloseRequest({
            payer: who, leaseId: id, nonce: escrow.nonces(who), deadline: block.timestamp + 1 hours
        });
    }

    // ---- digests ------------------------------------------------------------------------------------

    function test_DigestsMatchTypeStringsAndDomain() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = escrow.eip712Domain();
        assertEq(name, "CloudmarketEscrow");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(escrow));
        IDeploymentEscrow.OpenRequest memory o = _openReq(7);
        assertEq(escrow.digestOpenRequest(o), EscrowSigning.openDigest(escrow, o));
        IDeploymentEscrow.TopUpRequest memory t = IDeploymentEscrow.TopUpRequest(managed, 42, 5e6, 3, 99);
        assertEq(escrow.digestTopUpRequest(t), EscrowSigning.topUpDigest(escrow, t));
        IDeploymentEscrow.CloseRequest memory c = IDeploymentEscrow.CloseRequest(managed, 42, 3, 99);
        assertEq(escrow.digestCloseRequest(c), EscrowSigning.closeDigest(escrow, c));
        // Distinct types never share a digest, so a signature of one kind is no other kind's.
        assertTrue(EscrowSigning.topUpDigest(escrow, t) != EscrowSigning.closeDigest(escrow, c));
    }

    // ---- openBySig ----------------------------------------------------------------------------------

    function test_OpenBySigUsesPayerFundsAndFields() public {
        uint256 expectedId = (uint256(uint160(managed)) << 64) | 1;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IDeploymentEscrow.LeaseOpened(expectedId, managed, node, RATE, DEPOSIT, keccak256("spec"), 0);
        uint256 id = _openBySig();
        assertEq(id, expectedId);
        IDeploymentEscrow.LeaseView memory l = escrow.lease(id);
        assertEq(l.payer, managed);
        assertEq(l.nodeId, node);
        assertEq(l.balance, DEPOSIT);
        assertEq(l.ratePerSecond, RATE);
        assertEq(l.settledAt, block.timestamp);
        assertTrue(l.open);
        assertEq(token.balanceOf(managed), FUNDS - DEPOSIT);
        assertEq(token.balanceOf(address(escrow)), DEPOSIT);
        assertEq(token.balanceOf(relayer), 0);
        assertEq(token.allowance(managed, address(escrow)), 0);
        assertEq(escrow.nonces(managed), 1);
        assertEq(escrow.nonces(relayer), 0);
    }

    function test_RevertWhen_OpenBySigReplayed() public {
        IDeploymentEscrow.OpenRequest memory req = _openReq(0);
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(2 * DEPOSIT); // allowance would cover a second pull
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, sig);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, managed, 1));
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, sig);
        assertEq(token.balanceOf(managed), FUNDS - DEPOSIT);
    }

    function test_RevertWhen_OpenBySigWrongSigner() public {
        (, uint256 otherKey) = makeAddrAndKey("other");
        IDeploymentEscrow.OpenRequest memory req = _openReq(0);
        bytes memory sig = EscrowSigning.sign(otherKey, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidSigner.selector, managed));
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, sig);
        // Garbage signature bytes are refused the same way (no ECDSA revert escapes).
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidSigner.selector, managed));
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, hex"1234");
    }

    function test_RevertWhen_OpenBySigExpired() public {
        IDeploymentEscrow.OpenRequest memory req = _openReq(0);
        req.deadline = block.timestamp;
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(DEPOSIT);
        uint256 snap = vm.snapshotState();
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, sig); // the deadline itself is still valid
        vm.revertToState(snap);
        vm.warp(req.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.ExpiredSignature.selector, req.deadline));
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, sig);
    }

    function test_FrontRunPermitStillOpens() public {
        IDeploymentEscrow.OpenRequest memory req = _openReq(0);
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(DEPOSIT);
        // Someone copies the permit from the mempool and submits it first.
        vm.prank(keeper);
        token.permit(managed, address(escrow), p.value, p.deadline, p.v, p.r, p.s);
        vm.prank(relayer);
        uint256 id = escrow.openBySig(req, _quoteFor(req), p, sig);
        assertEq(escrow.lease(id).balance, DEPOSIT);
        assertEq(token.balanceOf(managed), FUNDS - DEPOSIT);
    }

    function test_RevertWhen_PermitFailsWithoutAllowance() public {
        IDeploymentEscrow.OpenRequest memory req = _openReq(0);
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(DEPOSIT);
        p.value = DEPOSIT + 1; // no longer what the owner signed: the token refuses it
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.PermitFailed.selector, managed, 0, DEPOSIT));
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, sig);
        // Without a permit and without allowance the pull itself fails.
        vm.expectRevert();
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), _noPermit(), sig);
    }

    function test_OpenBySigTakesPayersDiscountNotRelayers() public {
        FixedDiscountOracle oracle = new FixedDiscountOracle();
        vm.prank(admin);
        escrow.setDiscountOracle(address(oracle));
        oracle.set(managed, 1_000); // 10%
        oracle.set(relayer, 5_000);
        uint256 id = _openBySig();
        assertEq(escrow.lease(id).ratePerSecond, 900);
    }

    // ---- topUpBySig / closeBySig ----------------------------------------------------------------------

    function test_TopUpBySigAddsPayerCredit() public {
        uint256 id = _openBySig();
        IDeploymentEscrow.TopUpRequest memory req = IDeploymentEscrow.TopUpRequest({
            payer: managed, leaseId: id, amount: 10e6, nonce: 1, deadline: block.timestamp + 1 hours
        });
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.topUpDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(10e6);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IDeploymentEscrow.LeaseToppedUp(id, managed, 10e6, DEPOSIT + 10e6);
        vm.prank(relayer);
        escrow.topUpBySig(req, p, sig);
        assertEq(escrow.lease(id).balance, DEPOSIT + 10e6);
        assertEq(token.balanceOf(managed), FUNDS - DEPOSIT - 10e6);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, managed, 2));
        vm.prank(relayer);
        escrow.topUpBySig(req, p, sig);
    }

    function test_CloseBySigRefundsPayerNotSender() public {
        uint256 id = _openBySig();
        vm.warp(block.timestamp + 1_000);
        IDeploymentEscrow.CloseRequest memory req = _closeReq(id, managed);
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.closeDigest(escrow, req));
        uint256 refund = DEPOSIT - RATE * 1_000;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IDeploymentEscrow.LeaseClosed(id, managed, refund);
        vm.prank(relayer);
        escrow.closeBySig(req, sig);
        assertEq(token.balanceOf(managed), FUNDS - RATE * 1_000);
        assertEq(token.balanceOf(relayer), 0);
        assertEq(escrow.nodeOwed(node), RATE * 1_000 - _fee(RATE * 1_000));
        assertFalse(escrow.lease(id).open);
    }

    function test_RevertWhen_CloseBySigNotLeasePayer() public {
        uint256 id = _openBySig();
        (address other, uint256 otherKey) = makeAddrAndKey("other");
        IDeploymentEscrow.CloseRequest memory req = _closeReq(id, other);
        bytes memory sig = EscrowSigning.sign(otherKey, EscrowSigning.closeDigest(escrow, req));
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.NotLeaseParty.selector, id, other));
        vm.prank(relayer);
        escrow.closeBySig(req, sig);
        // The payer's request signed by someone else is refused before anything else.
        req = _closeReq(id, managed);
        sig = EscrowSigning.sign(otherKey, EscrowSigning.closeDigest(escrow, req));
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidSigner.selector, managed));
        vm.prank(relayer);
        escrow.closeBySig(req, sig);
        assertTrue(escrow.lease(id).open);
    }

    function test_CloseBySigOfDepletedLeaseReportsPayer() public {
        uint256 id = _openBySig();
        vm.warp(block.timestamp + DEPOSIT / RATE + 10); // ran dry; the close settles it to empty
        IDeploymentEscrow.CloseRequest memory req = _closeReq(id, managed);
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.closeDigest(escrow, req));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IDeploymentEscrow.LeaseClosed(id, managed, 0);
        vm.prank(relayer);
        escrow.closeBySig(req, sig);
        assertEq(token.balanceOf(managed), FUNDS - DEPOSIT);
    }

    // ---- EIP-1271 contract wallet -------------------------------------------------------------------

    function test_ContractWalletPayer() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("wallet-owner");
        OwnedWallet wallet = new OwnedWallet(owner);
        _mint(address(wallet), FUNDS);
        // A contract wallet cannot sign an EIP-2612 permit (ECDSA only); it approves by a call instead.
        vm.prank(owner);
        wallet.execute(address(token), abi.encodeCall(token.approve, (address(escrow), type(uint256).max)));
        IDeploymentEscrow.OpenRequest memory req = _openReq(0);
        req.payer = address(wallet);
        bytes memory sig = EscrowSigning.sign(ownerKey, EscrowSigning.openDigest(escrow, req));
        vm.prank(relayer);
        uint256 id = escrow.openBySig(req, _quoteFor(req), _noPermit(), sig);
        assertEq(escrow.payerOf(id), address(wallet));
        assertEq(token.balanceOf(address(wallet)), FUNDS - DEPOSIT);
        // The wallet rejects a signature by anyone but its owner.
        IDeploymentEscrow.CloseRequest memory c = _closeReq(id, address(wallet));
        bytes memory bad = EscrowSigning.sign(managedKey, EscrowSigning.closeDigest(escrow, c));
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.InvalidSigner.selector, address(wallet)));
        vm.prank(relayer);
        escrow.closeBySig(c, bad);
        vm.prank(relayer);
        escrow.closeBySig(c, EscrowSigning.sign(ownerKey, EscrowSigning.closeDigest(escrow, c)));
        assertEq(token.balanceOf(address(wallet)), FUNDS);
    }

    // ---- fuzz ---------------------------------------------------------------------------------------

    /// Any field changed after signing (payer, node, rate, deposit, spec, nonce, deadline) is refused.
    function testFuzz_TamperedOpenRequestReverts(uint8 field, uint256 delta) public {
        delta = bound(delta, 1, type(uint32).max);
        _addNode(provider, address(0)); // a second active node, so a changed nodeId is still openable
        IDeploymentEscrow.OpenRequest memory req = _openReq(0);
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.openDigest(escrow, req));
        IDeploymentEscrow.Permit memory p = _permit(type(uint96).max);
        field = field % 7;
        if (field == 0) req.payer = address(uint160(req.payer) ^ uint160(delta));
        else if (field == 1) req.nodeId = node + 1;
        else if (field == 2) req.ratePerSecond -= delta % RATE == 0 ? 1 : delta % RATE;
        else if (field == 3) req.deposit -= delta % DEPOSIT == 0 ? 1 : delta % DEPOSIT;
        else if (field == 4) req.specHash = bytes32(uint256(req.specHash) ^ delta);
        else if (field == 5) req.nonce += delta;
        else req.deadline += delta;
        vm.expectRevert();
        vm.prank(relayer);
        escrow.openBySig(req, _quoteFor(req), p, sig);
        // Control: the untampered request with the same signature goes through.
        vm.prank(relayer);
        escrow.openBySig(_openReq(0), _quoteFor(_openReq(0)), p, sig);
    }

    /// A close request changed after signing is refused; the lease stays open.
    function testFuzz_TamperedCloseRequestReverts(uint8 field, uint256 delta) public {
        delta = bound(delta, 1, type(uint32).max);
        uint256 id = _openBySig();
        IDeploymentEscrow.CloseRequest memory req = _closeReq(id, managed);
        bytes memory sig = EscrowSigning.sign(managedKey, EscrowSigning.closeDigest(escrow, req));
        field = field % 3;
        if (field == 0) req.leaseId = id + delta;
        else if (field == 1) req.nonce += delta;
        else req.deadline += delta;
        vm.expectRevert();
        vm.prank(relayer);
        escrow.closeBySig(req, sig);
        assertTrue(escrow.lease(id).open);
    }
}
