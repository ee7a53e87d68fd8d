// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Test} from "forge-std/Test.sol";
import {CreditToken} from "../src/CreditToken.sol";
import {ICreditToken} from "../src/interfaces/ICreditToken.sol";

/// @dev Drives the token with mints (fresh and replayed refs), transfers and burns among a fixed set of
/// actors, and records what the invariants need.
contract CreditTokenHandler is CommonBase, StdCheats, StdUtils {
    CreditToken public immutable token;
    address public immutable minter;
    address[] public actors;
    bytes32[] public refs;
    uint256 public mintedTotal;
    uint256 public burnedTotal;
    uint256 public replaysAccepted;
    mapping(bytes32 ref => uint256 count) public mintsPerRef;

    constructor(CreditToken token_, address minter_) {
        token = token_;
        minter = minter_;
        for (uint256 i = 0; i < 4; ++i) {
            actors.push(makeAddr(string(abi.encodePacked("actor", vm.toString(i)))));
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function refCount() external view returns (uint256) {
        return refs.length;
    }

    function mint(uint256 actorSeed, uint256 amount, bytes32 ref) external {
        if (ref == bytes32(0) || mintsPerRef[ref] != 0) return; // replays are the job of replay()
        amount = bound(amount, 1, 1e18);
        address to = actors[actorSeed % actors.length];
        vm.prank(minter);
        token.mint(to, amount, ref);
        if (mintsPerRef[ref] == 0) refs.push(ref);
        mintsPerRef[ref] += 1;
        mintedTotal += amount;
    }

    function replay(uint256 refSeed, uint256 actorSeed, uint256 amount) external {
        if (refs.length == 0) return;
        bytes32 ref = refs[refSeed % refs.length];
        amount = bound(amount, 1, 1e18);
        vm.prank(minter);
        try token.mint(actors[actorSeed % actors.length], amount, ref) {
            replaysAccepted += 1;
            mintsPerRef[ref] += 1;
        } catch (bytes memory reason) {
            require(
                keccak256(reason) == keccak256(abi.encodeWithSelector(ICreditToken.RefAlreadyUsed.selector, ref)),
                "unexpected revert"
            );
        }
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = actors[fromSeed % actors.length];
        address to = actors[toSeed % actors.length];
        amount = bound(amount, 0, token.balanceOf(from));
        vm.prank(from);
        require(token.transfer(to, amount), "transfer returned false");
    }

    function burn(uint256 actorSeed, uint256 amount) external {
        address from = actors[actorSeed % actors.length];
        amount = bound(amount, 0, token.balanceOf(from));
        vm.prank(from);
        token.burn(amount);
        burnedTotal += amount;
    }
}

contract CreditTokenInvariantTest is Test {
    CreditToken internal token;
    CreditTokenHandler internal handler;

    function setUp() public {
        address minter = makeAddr("minter");
        token = new CreditToken(address(this), minter);
        handler = new CreditTokenHandler(token, minter);
        targetContract(address(handler));
    }

    function invariant_SumOfBalancesIsTotalSupply() public view {
        uint256 sum = 0;
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            sum += token.balanceOf(handler.actors(i));
        }
        assertEq(sum, token.totalSupply());
        assertEq(token.totalSupply(), handler.mintedTotal() - handler.burnedTotal());
    }

    function invariant_NoRefMintsTwice() public view {
        assertEq(handler.replaysAccepted(), 0);
        for (uint256 i = 0; i < handler.refCount(); ++i) {
            bytes32 ref = handler.refs(i);
            assertEq(handler.mintsPerRef(ref), 1);
            assertTrue(token.refUsed(ref));
        }
    }
}
