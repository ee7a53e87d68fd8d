// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {MarketplaceFixture} from "./MarketplaceFixture.sol";
import {OwnedWallet} from "./EscrowSigning.sol";
import {TestStablecoin} from "../src/dev/TestStablecoin.sol";
import {SwapTopUp} from "../src/SwapTopUp.sol";
import {ISwapTopUp} from "../src/interfaces/ISwapTopUp.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";

interface IFactory {
    function createPair(address a, address b) external returns (address);
}

interface IPair {
    function mint(address to) external returns (uint256);
}

interface IRouter {
    function getAmountsOut(uint256 amountIn, address[] calldata path) external view returns (uint256[] memory);
    function swapExactTokensForTokens(uint256, uint256, address[] calldata, address, uint256)
        external
        returns (uint256[] memory);
}

/**
 * @dev SwapTopUp against the real Uniswap V2 factory, WETH9 and router deployed from the npm packages' build
 * artifacts (v2-core 1.0.1, v2-periphery 1.1.0-beta.0: the same bytecode the dev chain runs), a tUSD/credit
 * pool, and the real token, registry and escrow of the marketplace fixture.
 */
contract SwapTopUpTest is MarketplaceFixture {
    string internal constant SWAP_TYPE = "SwapRequest(address payer,uint256 leaseId,address[] path,uint256 amountIn,"
        "uint256 amountOutMin,uint256 nonce,uint256 deadline)";
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint256 internal constant POOL = 1_000_000e6;
    uint256 internal constant RATE = 1_000; // 0.001 credit/s
    uint256 internal constant DEPOSIT = 100e6;
    uint256 internal constant DUST = 1; // what chain/devswap.py seeds the adapter with, per token

    IRouter internal router;
    TestStablecoin internal usd;
    SwapTopUp internal adapter;
    uint256 internal aliceKey = uint256(keccak256("alice"));
    address internal alice;
    address internal mallory = makeAddr("mallory");
    address internal relayer = makeAddr("relayer");
    uint256 internal lease;

    function setUp() public {
        _deployMarketplace();
        _registerApproved(provider, MIN_COLLATERAL);
        node = _addNode(provider, address(0));
        address factory = _deployArtifact("v2-core/build/UniswapV2Factory.json", abi.encode(admin));
        address weth = _deployArtifact("v2-periphery/build/WETH9.json", "");
        router = IRouter(_deployArtifact("v2-periphery/build/UniswapV2Router02.json", abi.encode(factory, weth)));
        usd = new TestStablecoin();
        address pair = IFactory(factory).createPair(address(usd), address(token));
        usd.mint(pair, POOL);
        _mint(pair, POOL);
        IPair(pair).mint(admin);
        adapter = new SwapTopUp(address(router), address(escrow));
        _seedDust(adapter);

        alice = vm.addr(aliceKey);
        _fundPayer(alice, DEPOSIT);
        lease = _open(alice, node, RATE, DEPOSIT);
        usd.mint(alice, 10_000e6);
        vm.prank(alice);
        usd.approve(address(adapter), type(uint256).max);
    }

    /// @dev Deploys an npm Uniswap build artifact (waffle JSON: `bytecode` is hex without 0x; it also has an
    /// `evm.bytecode`, which `vm.getCode` rejects as a duplicate field, hence the manual read).
    function _deployArtifact(string memory path, bytes memory args) internal returns (address deployed) {
        string memory json = vm.readFile(string.concat("../node_modules/@uniswap/", path));
        bytes memory code =
            abi.encodePacked(vm.parseBytes(string.concat("0x", vm.parseJsonString(json, ".bytecode"))), args);
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0), "deploy failed");
    }

    function _path() internal view returns (address[] memory p) {
        p = new address[](2);
        p[0] = address(usd);
        p[1] = address(token);
    }

    function _expected(uint256 amountIn) internal view returns (uint256) {
        return router.getAmountsOut(amountIn, _path())[1];
    }

    function _balance(uint256 leaseId) internal view returns (uint256) {
        return escrow.lease(leaseId).balance;
    }

    /// @dev As chain/devswap.py deploys it: one unit of each token, kept for good (gas, see ISwapTopUp).
    function _seedDust(SwapTopUp a) internal {
        usd.mint(address(a), DUST);
        _mint(address(a), DUST);
    }

    /// @dev The adapter keeps nothing of the users': its balances are exactly the deployer's dust.
    function _assertAdapterEmpty() internal view {
        assertEq(usd.balanceOf(address(adapter)), DUST, "adapter keeps input");
        assertEq(token.balanceOf(address(adapter)), DUST, "adapter keeps credit");
    }

    // ---- direct ---------------------------------------------------------------------------------------

    function test_SwapAndTopUp_AddsAmountOutToOwnLease() public {
        uint256 expected = _expected(50e6);
        uint256 before = _balance(lease);
        vm.prank(alice);
        uint256 out = adapter.swapAndTopUp(_path(), 50e6, expected, lease, block.timestamp);
        assertEq(out, expected);
        assertEq(_balance(lease), before + expected);
        assertEq(usd.balanceOf(alice), 10_000e6 - 50e6);
        assertEq(token.balanceOf(alice), 0);
        _assertAdapterEmpty();
    }

    function test_SwapAndTopUp_TooTightAmountOutMinReverts() public {
        uint256 expected = _expected(50e6);
        uint256 before = _balance(lease);
        vm.prank(alice);
        vm.expectRevert(bytes("UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"));
        adapter.swapAndTopUp(_path(), 50e6, expected + 1, lease, block.timestamp);
        assertEq(_balance(lease), before);
        assertEq(usd.balanceOf(alice), 10_000e6);
    }

    function test_SwapAndTopUp_ExpiredDeadlineReverts() public {
        vm.prank(alice);
        vm.expectRevert(bytes("UniswapV2Router: EXPIRED"));
        adapter.swapAndTopUp(_path(), 50e6, 1, lease, block.timestamp - 1);
    }

    function test_SwapAndTopUp_AnotherUsersLeaseReverts() public {
        // Mallory pays with her own tokens but may not touch Alice's lease through the adapter.
        usd.mint(mallory, 100e6);
        vm.startPrank(mallory);
        usd.approve(address(adapter), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.NotLeasePayer.selector, lease, mallory));
        adapter.swapAndTopUp(_path(), 50e6, 1, lease, block.timestamp);
        vm.stopPrank();
    }

    function test_SwapAndTopUp_CannotSpendAnotherUsersAllowance() public {
        // Alice approved the adapter; Mallory (no tokens) targets her own lease: the pull is from Mallory.
        _fundPayer(mallory, DEPOSIT);
        uint256 malloryLease = _open(mallory, node, RATE, DEPOSIT);
        vm.prank(mallory);
        vm.expectRevert(); // ERC20InsufficientAllowance(adapter, 0, 50e6) from tUSD
        adapter.swapAndTopUp(_path(), 50e6, 1, malloryLease, block.timestamp);
        assertEq(usd.balanceOf(alice), 10_000e6);
    }

    function test_SwapAndTopUp_PathMustEndInCredit() public {
        address[] memory p = new address[](2);
        p[0] = address(token);
        p[1] = address(usd);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.InvalidPath.selector, address(usd), address(token)));
        adapter.swapAndTopUp(p, 50e6, 1, lease, block.timestamp);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.InvalidPath.selector, address(0), address(token)));
        adapter.swapAndTopUp(new address[](1), 50e6, 1, lease, block.timestamp);
    }

    function test_SwapAndTopUp_ClosedLeaseRevertsAndRefundsNothingKept() public {
        vm.prank(alice);
        escrow.close(lease);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IDeploymentEscrow.LeaseNotOpen.selector, lease));
        adapter.swapAndTopUp(_path(), 50e6, 1, lease, block.timestamp);
        _assertAdapterEmpty();
    }

    function test_UnseededAdapter_WorksAndKeepsNothing() public {
        // The dust only saves gas: an adapter without it swaps the same and ends with zero balances.
        SwapTopUp bare = new SwapTopUp(address(router), address(escrow));
        uint256 expected = _expected(50e6);
        uint256 before = _balance(lease);
        vm.startPrank(alice);
        usd.approve(address(bare), 50e6);
        assertEq(bare.swapAndTopUp(_path(), 50e6, expected, lease, block.timestamp), expected);
        vm.stopPrank();
        assertEq(_balance(lease), before + expected);
        assertEq(usd.balanceOf(address(bare)), 0);
        assertEq(token.balanceOf(address(bare)), 0);
    }

    function test_Dust_NeverPaysForAnyone() public {
        // A payer one unit short of amountIn (the dust's size) is refused: only the payer's own tokens move.
        usd.mint(mallory, 50e6 - 1);
        _fundPayer(mallory, DEPOSIT);
        uint256 malloryLease = _open(mallory, node, RATE, DEPOSIT);
        vm.startPrank(mallory);
        usd.approve(address(adapter), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, mallory, 50e6 - 1, 50e6));
        adapter.swapAndTopUp(_path(), 50e6, 1, malloryLease, block.timestamp);
        vm.stopPrank();
        _assertAdapterEmpty();
    }

    function test_SwapToCredit_DeliversToCaller() public {
        uint256 expected = _expected(20e6);
        vm.prank(alice);
        uint256 out = adapter.swapToCredit(_path(), 20e6, expected, block.timestamp);
        assertEq(out, expected);
        assertEq(token.balanceOf(alice), expected);
        _assertAdapterEmpty();
    }

    function test_Constructor_RejectsZero() public {
        vm.expectRevert(ISwapTopUp.ZeroAddress.selector);
        new SwapTopUp(address(0), address(escrow));
        assertEq(adapter.router(), address(router));
        assertEq(adapter.escrow(), address(escrow));
        assertEq(adapter.creditToken(), address(token));
    }

    function test_RouterWithoutCode_RevertsAndKeepsNothing() public {
        SwapTopUp broken = new SwapTopUp(makeAddr("no router here"), address(escrow));
        vm.startPrank(alice);
        usd.approve(address(broken), 50e6);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.UnexpectedRouterReturn.selector, 0));
        broken.swapToCredit(_path(), 50e6, 1, block.timestamp);
        vm.stopPrank();
        assertEq(usd.balanceOf(alice), 10_000e6);
        assertEq(usd.balanceOf(address(broken)), 0);
    }

    // ---- relayed (managed wallets) --------------------------------------------------------------------

    function _request(uint256 leaseId, uint256 amountIn, uint256 amountOutMin)
        internal
        view
        returns (ISwapTopUp.SwapRequest memory r)
    {
        r.payer = alice;
        r.leaseId = leaseId;
        r.path = _path();
        r.amountIn = amountIn;
        r.amountOutMin = amountOutMin;
        r.nonce = adapter.nonces(alice);
        r.deadline = block.timestamp + 600;
    }

    /// @dev The digest from the type string written out here, independent of the contract's typehash.
    function _digest(ISwapTopUp.SwapRequest memory r) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("CloudmarketSwapTopUp"),
                keccak256("1"),
                block.chainid,
                address(adapter)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(bytes(SWAP_TYPE)),
                r.payer,
                r.leaseId,
                keccak256(abi.encodePacked(r.path)),
                r.amountIn,
                r.amountOutMin,
                r.nonce,
                r.deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _permit(uint256 key, uint256 value) internal view returns (ISwapTopUp.Permit memory p) {
        address owner = vm.addr(key);
        uint256 deadline = block.timestamp + 600;
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(adapter), value, usd.nonces(owner), deadline));
        (p.v, p.r, p.s) = vm.sign(key, keccak256(abi.encodePacked("\x19\x01", usd.DOMAIN_SEPARATOR(), structHash)));
        p.value = value;
        p.deadline = deadline;
    }

    function _noPermit() internal pure returns (ISwapTopUp.Permit memory p) {
        return p; // value 0: use the allowance
    }

    function _revokeAllowance() internal {
        vm.prank(alice);
        usd.approve(address(adapter), 0);
    }

    function test_WithPermit_RelayedTopUp() public {
        _revokeAllowance();
        uint256 expected = _expected(50e6);
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, expected);
        assertEq(adapter.digestSwapRequest(r), _digest(r));
        uint256 before = _balance(lease);
        vm.prank(relayer);
        uint256 out = adapter.swapAndTopUpWithPermit(r, _permit(aliceKey, 50e6), _sign(aliceKey, _digest(r)));
        assertEq(out, expected);
        assertEq(_balance(lease), before + expected);
        assertEq(adapter.nonces(alice), 1);
        assertEq(usd.balanceOf(relayer), 0);
        assertEq(token.balanceOf(relayer), 0);
        _assertAdapterEmpty();
    }

    function test_WithPermit_ReplayReverts() public {
        _revokeAllowance();
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, 1);
        ISwapTopUp.Permit memory p = _permit(aliceKey, 100e6); // leaves 50e6 of allowance after one use
        bytes memory sig = _sign(aliceKey, _digest(r));
        vm.prank(relayer);
        adapter.swapAndTopUpWithPermit(r, p, sig);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, alice, 1));
        adapter.swapAndTopUpWithPermit(r, p, sig);
    }

    function test_WithPermit_FrontRunPermitTolerated() public {
        _revokeAllowance();
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, 1);
        ISwapTopUp.Permit memory p = _permit(aliceKey, 50e6);
        usd.permit(alice, address(adapter), p.value, p.deadline, p.v, p.r, p.s); // a front-runner uses it
        vm.prank(relayer);
        adapter.swapAndTopUpWithPermit(r, p, _sign(aliceKey, _digest(r)));
        assertEq(adapter.nonces(alice), 1);
    }

    function test_WithPermit_FailedPermitWithoutAllowanceReverts() public {
        _revokeAllowance();
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, 1);
        ISwapTopUp.Permit memory p = _permit(aliceKey, 50e6);
        p.s = bytes32(uint256(p.s) ^ 1);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.PermitFailed.selector, alice, 0, 50e6));
        adapter.swapAndTopUpWithPermit(r, p, _sign(aliceKey, _digest(r)));
    }

    function test_WithPermit_TamperedTermsRevert() public {
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, 49e6);
        bytes memory sig = _sign(aliceKey, _digest(r));
        r.amountOutMin = 1; // a relayer loosening the slippage bound
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.InvalidSigner.selector, alice));
        adapter.swapAndTopUpWithPermit(r, _noPermit(), sig);
    }

    function test_WithPermit_AnotherUsersLeaseReverts() public {
        // Alice signs a top-up of Mallory's lease: refused (her tokens fund only her own leases).
        _fundPayer(mallory, DEPOSIT);
        uint256 malloryLease = _open(mallory, node, RATE, DEPOSIT);
        ISwapTopUp.SwapRequest memory r = _request(malloryLease, 50e6, 1);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.NotLeasePayer.selector, malloryLease, alice));
        adapter.swapAndTopUpWithPermit(r, _noPermit(), _sign(aliceKey, _digest(r)));
        // ...and Mallory cannot have Alice's tokens pay (even for Alice's own lease) without Alice's signature.
        r.payer = alice;
        r.leaseId = lease;
        uint256 malloryKey = uint256(keccak256("mallory key"));
        vm.prank(mallory);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.InvalidSigner.selector, alice));
        adapter.swapAndTopUpWithPermit(r, _noPermit(), _sign(malloryKey, _digest(r)));
    }

    function test_WithPermit_ExpiredReverts() public {
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, 1);
        bytes memory sig = _sign(aliceKey, _digest(r));
        vm.warp(r.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.ExpiredSignature.selector, r.deadline));
        adapter.swapAndTopUpWithPermit(r, _noPermit(), sig);
    }

    function test_WithPermit_TooTightAmountOutMinRevertsAndKeepsNonce() public {
        uint256 expected = _expected(50e6);
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, expected + 1);
        vm.expectRevert(bytes("UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"));
        adapter.swapAndTopUpWithPermit(r, _noPermit(), _sign(aliceKey, _digest(r)));
        assertEq(adapter.nonces(alice), 0);
    }

    function test_WithPermit_WrongKindReverts() public {
        ISwapTopUp.SwapRequest memory r = _request(0, 50e6, 1);
        bytes memory sig = _sign(aliceKey, _digest(r));
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.WrongRequestKind.selector, 0));
        adapter.swapAndTopUpWithPermit(r, _noPermit(), sig);
        r = _request(lease, 50e6, 1);
        sig = _sign(aliceKey, _digest(r));
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.WrongRequestKind.selector, lease));
        adapter.swapToCreditWithPermit(r, _noPermit(), sig);
    }

    function test_WithPermit_SwapToCreditDeliversToPayer() public {
        _revokeAllowance();
        uint256 expected = _expected(20e6);
        ISwapTopUp.SwapRequest memory r = _request(0, 20e6, expected);
        vm.prank(relayer);
        adapter.swapToCreditWithPermit(r, _permit(aliceKey, 20e6), _sign(aliceKey, _digest(r)));
        assertEq(token.balanceOf(alice), expected);
        assertEq(token.balanceOf(relayer), 0);
        _assertAdapterEmpty();
    }

    function test_WithPermit_ContractWallet() public {
        OwnedWallet wallet = new OwnedWallet(alice);
        _fundPayer(address(wallet), DEPOSIT);
        vm.prank(address(wallet));
        uint256 walletLease =
            escrow.open(node, RATE, DEPOSIT, keccak256("spec"), _quote(address(wallet), node, RATE, keccak256("spec")));
        usd.mint(address(wallet), 50e6);
        vm.prank(address(wallet));
        usd.approve(address(adapter), 50e6);
        ISwapTopUp.SwapRequest memory r = _request(walletLease, 50e6, 1);
        r.payer = address(wallet);
        r.nonce = 0;
        uint256 before = _balance(walletLease);
        vm.prank(relayer);
        uint256 out = adapter.swapAndTopUpWithPermit(r, _noPermit(), _sign(aliceKey, _digest(r)));
        assertEq(_balance(walletLease), before + out);
    }

    // ---- fuzz -----------------------------------------------------------------------------------------

    /// @dev Any amount: the lease gains exactly the router's quote, the payer loses exactly amountIn, the
    /// adapter ends empty, and a bound one unit above the quote reverts.
    function testFuzz_SwapAndTopUp_ExactAmounts(uint256 amountIn, bool tooTight) public {
        amountIn = bound(amountIn, 1_000, 10_000e6);
        uint256 expected = _expected(amountIn);
        uint256 before = _balance(lease);
        uint256 usdBefore = usd.balanceOf(alice);
        vm.prank(alice);
        if (tooTight) {
            vm.expectRevert(bytes("UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"));
            adapter.swapAndTopUp(_path(), amountIn, expected + 1, lease, block.timestamp);
            assertEq(_balance(lease), before);
            assertEq(usd.balanceOf(alice), usdBefore);
        } else {
            adapter.swapAndTopUp(_path(), amountIn, expected, lease, block.timestamp);
            assertEq(_balance(lease), before + expected);
            assertEq(usd.balanceOf(alice), usdBefore - amountIn);
        }
        _assertAdapterEmpty();
    }

    /// @dev Changing any signed term invalidates the signature.
    function testFuzz_WithPermit_TamperedFieldRejected(uint8 field, uint256 delta) public {
        delta = bound(delta, 1, 1e18);
        ISwapTopUp.SwapRequest memory r = _request(lease, 50e6, 1);
        bytes memory sig = _sign(aliceKey, _digest(r));
        field = field % 4;
        if (field == 0) r.amountIn += delta;
        else if (field == 1) r.amountOutMin += delta;
        else if (field == 2) r.deadline += delta;
        else r.path[0] = address(uint160(r.path[0]) ^ uint160(delta));
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(ISwapTopUp.InvalidSigner.selector, alice));
        adapter.swapAndTopUpWithPermit(r, _noPermit(), sig);
    }
}
