// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CreditToken} from "../src/CreditToken.sol";
import {ICreditToken} from "../src/interfaces/ICreditToken.sol";
import {Multicall} from "../src/Multicall.sol";

/// @dev A target whose calls revert or try to write, to check that failures stay inside their Result.
contract Misbehaving {
    error Nope(uint256 code);

    uint256 public counter;

    function fail(uint256 code) external pure {
        revert Nope(code);
    }

    function write() external returns (uint256) {
        counter += 1;
        return counter;
    }
}

contract MulticallTest is Test {
    Multicall internal multicall;
    CreditToken internal token;
    Misbehaving internal bad;
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function setUp() public {
        multicall = new Multicall();
        token = new CreditToken(address(this), address(this));
        bad = new Misbehaving();
        token.mint(alice, 11, "a");
        token.mint(bob, 22, "b");
    }

    function test_AggregateBalances() public view {
        Multicall.Call[] memory calls = new Multicall.Call[](3);
        calls[0] = Multicall.Call(address(token), abi.encodeCall(IERC20.balanceOf, (alice)));
        calls[1] = Multicall.Call(address(token), abi.encodeCall(IERC20.balanceOf, (bob)));
        calls[2] = Multicall.Call(address(token), abi.encodeCall(ICreditToken.refUsed, ("a")));
        Multicall.Result[] memory results = multicall.aggregate(calls);
        assertEq(results.length, 3);
        assertTrue(results[0].success && results[1].success && results[2].success);
        assertEq(abi.decode(results[0].returnData, (uint256)), 11);
        assertEq(abi.decode(results[1].returnData, (uint256)), 22);
        assertTrue(abi.decode(results[2].returnData, (bool)));
    }

    function test_AggregateEmpty() public view {
        assertEq(multicall.aggregate(new Multicall.Call[](0)).length, 0);
    }

    function test_FailedCallsDoNotRevert() public view {
        Multicall.Call[] memory calls = new Multicall.Call[](3);
        calls[0] = Multicall.Call(address(bad), abi.encodeCall(Misbehaving.fail, (7)));
        calls[1] = Multicall.Call(address(token), hex"deadbeef");
        calls[2] = Multicall.Call(address(token), abi.encodeCall(IERC20.balanceOf, (alice)));
        Multicall.Result[] memory results = multicall.aggregate(calls);
        assertFalse(results[0].success);
        assertEq(results[0].returnData, abi.encodeWithSelector(Misbehaving.Nope.selector, 7));
        assertFalse(results[1].success);
        assertTrue(results[2].success);
        assertEq(abi.decode(results[2].returnData, (uint256)), 11);
    }

    /// @dev A write under staticcall fails (and burns the gas forwarded to it); the batch still returns.
    function test_StateChangingCallFails() public view {
        Multicall.Call[] memory calls = new Multicall.Call[](2);
        calls[0] = Multicall.Call(address(bad), abi.encodeCall(Misbehaving.write, ()));
        calls[1] = Multicall.Call(address(token), abi.encodeCall(IERC20.balanceOf, (bob)));
        Multicall.Result[] memory results = multicall.aggregate{gas: 1_000_000}(calls);
        assertFalse(results[0].success, "a state-changing call must fail under staticcall");
        assertTrue(results[1].success);
        assertEq(abi.decode(results[1].returnData, (uint256)), 22);
        assertEq(bad.counter(), 0);
    }

    function test_CallToAccountWithoutCode() public view {
        Multicall.Call[] memory calls = new Multicall.Call[](1);
        calls[0] = Multicall.Call(alice, abi.encodeCall(IERC20.balanceOf, (alice)));
        Multicall.Result[] memory results = multicall.aggregate(calls);
        assertTrue(results[0].success);
        assertEq(results[0].returnData.length, 0);
    }

    function test_GetEthBalances() public {
        vm.deal(alice, 1 ether);
        vm.deal(bob, 3 wei);
        address[] memory accounts = new address[](3);
        accounts[0] = alice;
        accounts[1] = bob;
        accounts[2] = makeAddr("nobody");
        uint256[] memory balances = multicall.getEthBalances(accounts);
        assertEq(balances.length, 3);
        assertEq(balances[0], 1 ether);
        assertEq(balances[1], 3);
        assertEq(balances[2], 0);
    }

    function test_GetBlock() public {
        vm.roll(1234);
        vm.warp(5678);
        (uint256 number, uint256 timestamp) = multicall.getBlock();
        assertEq(number, 1234);
        assertEq(timestamp, 5678);
    }

    function testFuzz_AggregateMatchesDirectReads(address[8] memory accounts) public view {
        Multicall.Call[] memory calls = new Multicall.Call[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            calls[i] = Multicall.Call(address(token), abi.encodeCall(IERC20.balanceOf, (accounts[i])));
        }
        Multicall.Result[] memory results = multicall.aggregate(calls);
        for (uint256 i = 0; i < accounts.length; ++i) {
            assertTrue(results[i].success);
            assertEq(abi.decode(results[i].returnData, (uint256)), token.balanceOf(accounts[i]));
        }
    }
}
