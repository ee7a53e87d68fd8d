// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {CreditToken} from "../src/CreditToken.sol";
import {ICreditToken} from "../src/interfaces/ICreditToken.sol";

contract CreditTokenTest is Test {
    bytes32 private constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    CreditToken internal token;
    address internal admin = makeAddr("admin");
    address internal minter = makeAddr("minter");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    event CreditMinted(address indexed to, uint256 amount, bytes32 indexed ref);
    event Transfer(address indexed from, address indexed to, uint256 value);

    function setUp() public {
        token = new CreditToken(admin, minter);
    }

    function _permitDigest(address owner, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    // ---- metadata and roles -------------------------------------------------------------------------

    function test_Metadata() public view {
        assertEq(token.name(), "Cloudmarket Credit");
        assertEq(token.symbol(), "CMC");
        assertEq(token.decimals(), 6);
        assertEq(token.totalSupply(), 0);
    }

    function test_ConstructorGrantsRoles() public view {
        assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(token.hasRole(token.MINTER_ROLE(), minter));
        assertFalse(token.hasRole(token.MINTER_ROLE(), admin));
        assertFalse(token.hasRole(token.DEFAULT_ADMIN_ROLE(), address(this)));
        assertEq(token.MINTER_ROLE(), keccak256("MINTER_ROLE"));
    }

    function test_ConstructorWithoutMinter() public {
        CreditToken t = new CreditToken(admin, address(0));
        bytes32 role = t.MINTER_ROLE();
        assertFalse(t.hasRole(role, address(0)));
        assertFalse(t.hasRole(role, minter));
        vm.prank(admin);
        t.grantRole(role, minter);
        vm.prank(minter);
        t.mint(alice, 1, bytes32(uint256(1)));
        assertEq(t.balanceOf(alice), 1);
    }

    function test_AdminGrantsAndRevokesMinter() public {
        bytes32 role = token.MINTER_ROLE();
        vm.startPrank(admin);
        token.grantRole(role, bob);
        token.revokeRole(role, minter);
        vm.stopPrank();
        vm.prank(bob);
        token.mint(alice, 5, "bob-ref");
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, minter, role)
        );
        vm.prank(minter);
        token.mint(alice, 5, "minter-ref");
    }

    function test_RevertWhen_NonAdminGrants() public {
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, minter, token.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(minter);
        token.grantRole(role, bob);
    }

    function test_SupportsInterface() public view {
        assertTrue(token.supportsInterface(type(IAccessControl).interfaceId));
        assertFalse(token.supportsInterface(0xffffffff));
    }

    // ---- mint ---------------------------------------------------------------------------------------

    function test_Mint() public {
        bytes32 ref = keccak256("pi_123");
        vm.expectEmit(true, true, true, true, address(token));
        emit Transfer(address(0), alice, 25_000_000);
        vm.expectEmit(true, true, true, true, address(token));
        emit CreditMinted(alice, 25_000_000, ref);
        vm.prank(minter);
        token.mint(alice, 25_000_000, ref);
        assertEq(token.balanceOf(alice), 25_000_000);
        assertEq(token.totalSupply(), 25_000_000);
        assertTrue(token.refUsed(ref));
        assertFalse(token.refUsed(keccak256("pi_124")));
    }

    function test_RevertWhen_RefReused() public {
        bytes32 ref = keccak256("pi_123");
        vm.startPrank(minter);
        token.mint(alice, 1_000_000, ref);
        vm.expectRevert(abi.encodeWithSelector(ICreditToken.RefAlreadyUsed.selector, ref));
        token.mint(alice, 1_000_000, ref);
        vm.expectRevert(abi.encodeWithSelector(ICreditToken.RefAlreadyUsed.selector, ref));
        token.mint(bob, 7, ref);
        vm.stopPrank();
        assertEq(token.balanceOf(alice), 1_000_000);
        assertEq(token.balanceOf(bob), 0);
        assertEq(token.totalSupply(), 1_000_000);
    }

    function test_RevertWhen_ZeroRef() public {
        vm.expectRevert(ICreditToken.ZeroRef.selector);
        vm.prank(minter);
        token.mint(alice, 1, bytes32(0));
    }

    function test_RevertWhen_ZeroAmount() public {
        vm.expectRevert(ICreditToken.ZeroAmount.selector);
        vm.prank(minter);
        token.mint(alice, 0, "ref");
        assertFalse(token.refUsed("ref"));
    }

    function test_RevertWhen_MintToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(minter);
        token.mint(address(0), 1, "ref");
        assertFalse(token.refUsed("ref"));
    }

    function test_RevertWhen_NonMinterMints() public {
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        vm.prank(admin);
        token.mint(alice, 1, "ref");
        assertFalse(token.refUsed("ref"));
    }

    // ---- transfer and burn --------------------------------------------------------------------------

    function test_Transfer() public {
        vm.prank(minter);
        token.mint(alice, 10_000_000, "ref");
        vm.prank(alice);
        assertTrue(token.transfer(bob, 3_000_000));
        assertEq(token.balanceOf(alice), 7_000_000);
        assertEq(token.balanceOf(bob), 3_000_000);
    }

    function test_Burn() public {
        vm.prank(minter);
        token.mint(alice, 10, "ref");
        vm.prank(alice);
        token.burn(4);
        assertEq(token.balanceOf(alice), 6);
        assertEq(token.totalSupply(), 6);
    }

    function test_RevertWhen_BurnMoreThanBalance() public {
        vm.prank(minter);
        token.mint(alice, 10, "ref");
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 10, 11));
        vm.prank(alice);
        token.burn(11);
    }

    // ---- permit -------------------------------------------------------------------------------------

    function test_Permit() public {
        (address owner, uint256 key) = makeAddrAndKey("owner");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(owner, bob, 500, 0, deadline));
        token.permit(owner, bob, 500, deadline, v, r, s);
        assertEq(token.allowance(owner, bob), 500);
        assertEq(token.nonces(owner), 1);

        vm.prank(minter);
        token.mint(owner, 1_000, "ref");
        vm.prank(bob);
        assertTrue(token.transferFrom(owner, bob, 500));
        assertEq(token.balanceOf(bob), 500);
        assertEq(token.allowance(owner, bob), 0);
    }

    function test_RevertWhen_PermitReplayed() public {
        (address owner, uint256 key) = makeAddrAndKey("owner");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(owner, bob, 500, 0, deadline));
        token.permit(owner, bob, 500, deadline, v, r, s);
        // The nonce moved on, so the same signature now recovers to a different address.
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector);
        token.permit(owner, bob, 500, deadline, v, r, s);
    }

    function test_RevertWhen_PermitExpired() public {
        (address owner, uint256 key) = makeAddrAndKey("owner");
        vm.warp(1_000_000);
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(owner, bob, 500, 0, deadline));
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(owner, bob, 500, deadline, v, r, s);
        assertEq(token.allowance(owner, bob), 0);
    }

    function test_RevertWhen_PermitWrongSigner() public {
        (address owner,) = makeAddrAndKey("owner");
        (address mallory, uint256 malloryKey) = makeAddrAndKey("mallory");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(malloryKey, _permitDigest(owner, bob, 500, 0, deadline));
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, mallory, owner));
        token.permit(owner, bob, 500, deadline, v, r, s);
        assertEq(token.allowance(owner, bob), 0);
    }

    // ---- fuzz ---------------------------------------------------------------------------------------

    function testFuzz_MintThenReplayReverts(address to, uint256 amount, bytes32 ref) public {
        vm.assume(to != address(0));
        vm.assume(ref != bytes32(0));
        amount = bound(amount, 1, type(uint256).max);
        vm.startPrank(minter);
        token.mint(to, amount, ref);
        assertEq(token.balanceOf(to), amount);
        assertEq(token.totalSupply(), amount);
        assertTrue(token.refUsed(ref));
        vm.expectRevert(abi.encodeWithSelector(ICreditToken.RefAlreadyUsed.selector, ref));
        token.mint(to, 1, ref);
        vm.stopPrank();
    }

    function testFuzz_DistinctRefsBothMint(bytes32 refA, bytes32 refB, uint128 a, uint128 b) public {
        vm.assume(refA != bytes32(0) && refB != bytes32(0) && refA != refB);
        vm.assume(a > 0 && b > 0);
        vm.startPrank(minter);
        token.mint(alice, a, refA);
        token.mint(bob, b, refB);
        vm.stopPrank();
        assertEq(token.totalSupply(), uint256(a) + uint256(b));
    }

    function testFuzz_TransferConservesSupply(uint256 minted, uint256 sent) public {
        minted = bound(minted, 1, type(uint128).max);
        sent = bound(sent, 0, minted);
        vm.prank(minter);
        token.mint(alice, minted, "ref");
        vm.prank(alice);
        assertTrue(token.transfer(bob, sent));
        assertEq(token.balanceOf(alice) + token.balanceOf(bob), minted);
        assertEq(token.totalSupply(), minted);
    }

    function testFuzz_NonMinterCannotMint(address caller) public {
        vm.assume(caller != minter);
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, role));
        vm.prank(caller);
        token.mint(alice, 1, "ref");
    }

    function testFuzz_PermitSetsAllowance(uint248 ownerKey, address spender, uint256 value) public {
        uint256 key = bound(uint256(ownerKey), 1, 2 ** 128);
        address owner = vm.addr(key);
        vm.assume(spender != address(0));
        uint256 deadline = block.timestamp + 1;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _permitDigest(owner, spender, value, 0, deadline));
        token.permit(owner, spender, value, deadline, v, r, s);
        assertEq(token.allowance(owner, spender), value);
    }
}
