// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CreditToken} from "../src/CreditToken.sol";
import {DeploymentEscrow} from "../src/DeploymentEscrow.sol";
import {ProviderRegistry} from "../src/ProviderRegistry.sol";
import {EscrowSigning} from "./EscrowSigning.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";
import {IDiscountOracle} from "../src/interfaces/IDiscountOracle.sol";
import {IProviderRegistry} from "../src/interfaces/IProviderRegistry.sol";

/// @dev A settable discount oracle (a real contract, standing in for the later StakingTiers).
contract FixedDiscountOracle is IDiscountOracle {
    mapping(address payer => uint256 bps) public discounts;

    function set(address payer, uint256 bps) external {
        discounts[payer] = bps;
    }

    function discountBps(address payer) external view returns (uint256) {
        return discounts[payer];
    }
}

/// @dev Real token, registry and escrow, one approved provider with a node, a funded payer.
abstract contract MarketplaceFixture is Test {
    uint96 internal constant MIN_COLLATERAL = 1_000e6;
    uint32 internal constant MIN_NOTICE = 1 days;
    uint32 internal constant MAX_WINDOW = 6 hours;
    uint32 internal constant EXIT_COOLDOWN = 7 days;
    uint8 internal constant MAX_WINDOWS = 2;
    uint16 internal constant FEE_BPS = 500; // 5%
    uint16 internal constant KEEPER_SHARE_BPS = 1_000; // 10% of the fee
    uint64 internal constant MAX_TIP = 50_000; // 0.05 credit

    CreditToken internal token;
    ProviderRegistry internal registry;
    DeploymentEscrow internal escrow;

    address internal admin = makeAddr("admin");
    address internal minter = makeAddr("minter");
    address internal operator = makeAddr("operator");
    address internal seizer = makeAddr("seizer");
    address internal treasury = makeAddr("treasury");
    address internal engine = makeAddr("engine");
    address internal provider = makeAddr("provider");
    address internal alliance = makeAddr("alliance");
    address internal payer = makeAddr("payer");
    address internal keeper = makeAddr("keeper");
    address internal pauser = makeAddr("pauser");
    uint256 internal quoteKey = uint256(keccak256("quote signer"));
    address internal quoteSigner;
    uint256 internal constant QUOTE_TTL = 15 minutes;

    uint64 internal node;
    uint256 private _refSeq;

    function _deployMarketplace() internal {
        vm.warp(1_750_000_000);
        token = new CreditToken(admin, minter);
        registry = new ProviderRegistry(
            IERC20(address(token)),
            admin,
            treasury,
            IProviderRegistry.RegistryConfig({
                minCollateral: MIN_COLLATERAL,
                minNotice: MIN_NOTICE,
                maxWindowLength: MAX_WINDOW,
                exitCooldown: EXIT_COOLDOWN,
                maxWindowsPerMonth: MAX_WINDOWS
            })
        );
        escrow = new DeploymentEscrow(
            IERC20(address(token)), registry, admin, treasury, FEE_BPS, KEEPER_SHARE_BPS, MAX_TIP
        );
        quoteSigner = vm.addr(quoteKey);
        vm.startPrank(admin);
        registry.grantRole(registry.OPERATOR_ROLE(), operator);
        registry.grantRole(registry.SEIZER_ROLE(), seizer);
        registry.setEscrow(address(escrow));
        escrow.grantRole(escrow.TOPUP_ROLE(), engine);
        escrow.grantRole(escrow.QUOTE_SIGNER_ROLE(), quoteSigner);
        escrow.grantRole(escrow.PAUSER_ROLE(), pauser);
        vm.stopPrank();
    }

    function _mint(address to, uint256 amount) internal {
        _refSeq += 1;
        vm.prank(minter);
        token.mint(to, amount, keccak256(abi.encode("fixture", _refSeq)));
    }

    function _registerApproved(address who, uint256 collateral) internal {
        _mint(who, collateral);
        vm.startPrank(who);
        token.approve(address(registry), collateral);
        registry.register(collateral);
        vm.stopPrank();
        vm.prank(operator);
        registry.approveProvider(who);
    }

    function _addNode(address who, address payee) internal returns (uint64) {
        vm.prank(who);
        return registry.addNode(payee);
    }

    function _fundPayer(address who, uint256 amount) internal {
        _mint(who, amount);
        vm.prank(who);
        token.approve(address(escrow), type(uint256).max - 1);
    }

    function _open(address who, uint64 nodeId, uint256 rate, uint256 deposit) internal returns (uint256) {
        IDeploymentEscrow.QuoteSignature memory q = _quote(who, nodeId, rate, keccak256("spec"));
        vm.prank(who);
        return escrow.open(nodeId, rate, deposit, keccak256("spec"), q);
    }

    /// @dev The engine's quote for these terms, signed with `key`, valid QUOTE_TTL from now.
    function _quoteBy(uint256 key, address who, uint64 nodeId, uint256 rate, bytes32 spec)
        internal
        view
        returns (IDeploymentEscrow.QuoteSignature memory q)
    {
        q.expiry = block.timestamp + QUOTE_TTL;
        bytes32 digest = EscrowSigning.quoteDigest(escrow, who, nodeId, rate, spec, q.expiry);
        (q.r, q.vs) = vm.signCompact(key, digest);
    }

    function _quote(address who, uint64 nodeId, uint256 rate, bytes32 spec)
        internal
        view
        returns (IDeploymentEscrow.QuoteSignature memory)
    {
        return _quoteBy(quoteKey, who, nodeId, rate, spec);
    }

    function _quoteFor(IDeploymentEscrow.OpenRequest memory req)
        internal
        view
        returns (IDeploymentEscrow.QuoteSignature memory)
    {
        return _quote(req.payer, req.nodeId, req.ratePerSecond, req.specHash);
    }

    function _fee(uint256 due) internal pure returns (uint256) {
        return (due * FEE_BPS) / 10_000;
    }
}
