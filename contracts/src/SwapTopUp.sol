// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IDeploymentEscrow} from "./interfaces/IDeploymentEscrow.sol";
import {ISwapTopUp} from "./interfaces/ISwapTopUp.sol";

/// @dev The one Uniswap V2 router function the adapter uses (`IUniswapV2Router02`, v2-periphery 1.1.0-beta.0).
interface IUniswapV2SwapRouter {
    function swapExactTokensForTokens(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external returns (uint256[] memory amounts);
}

/**
 * @title SwapTopUp
 * @notice Swap any routed token for credit through Uniswap V2 and top up the payer's own lease, in one
 * transaction. Stateless apart from request nonces; see {ISwapTopUp} for who pays and what is checked.
 * @dev No owner, no admin, nothing to upgrade or rescue: the adapter never holds users' funds between calls
 * (the amounts are exact, see {ISwapTopUp}); tokens sent to it stay there and are never used to pay for
 * anyone's swap, since every pull and every top-up is of exact amounts. The deployer sends it one unit of
 * each token it will route (dust, see {ISwapTopUp} "Funds"): a balance that never returns to zero makes the
 * per-swap balance writes cheap non-zero -> non-zero ones. Reentrancy: the only state is the nonces,
 * consumed before any external call; a hooked input token re-entering can only swap its own caller's
 * tokens.
 */
contract SwapTopUp is ISwapTopUp, EIP712, Nonces {
    using SafeERC20 for IERC20;

    bytes32 private constant _SWAP_REQUEST_TYPEHASH = keccak256(
        "SwapRequest(address payer,uint256 leaseId,address[] path,uint256 amountIn,uint256 amountOutMin,uint256 nonce,uint256 deadline)"
    );

    IUniswapV2SwapRouter private immutable _router;
    IDeploymentEscrow private immutable _escrow;
    IERC20 private immutable _credit;

    /**
     * @param router_ The Uniswap V2 router (`UniswapV2Router02`).
     * @param escrow_ The deployment escrow; its credit token is the swap's output.
     */
    constructor(address router_, address escrow_) EIP712("CloudmarketSwapTopUp", "1") {
        if (router_ == address(0) || escrow_ == address(0)) revert ZeroAddress();
        _router = IUniswapV2SwapRouter(router_);
        _escrow = IDeploymentEscrow(escrow_);
        IERC20 credit = IERC20(IDeploymentEscrow(escrow_).creditToken());
        _credit = credit;
        // The escrow pulls exactly each top-up from here; an unlimited allowance is never decremented by
        // the (OpenZeppelin) credit token, which saves a storage write per top-up.
        credit.forceApprove(escrow_, type(uint256).max);
    }

    // ---- direct calls ---------------------------------------------------------------------------------

    /// @inheritdoc ISwapTopUp
    function swapAndTopUp(
        address[] calldata path,
        uint256 amountIn,
        uint256 amountOutMin,
        uint256 leaseId,
        uint256 deadline
    ) external returns (uint256 amountOut) {
        _checkLease(leaseId, msg.sender);
        amountOut = _swap(msg.sender, path, amountIn, amountOutMin, address(this), deadline);
        _escrow.topUp(leaseId, amountOut);
    }

    /// @inheritdoc ISwapTopUp
    function swapToCredit(address[] calldata path, uint256 amountIn, uint256 amountOutMin, uint256 deadline)
        external
        returns (uint256 amountOut)
    {
        amountOut = _swap(msg.sender, path, amountIn, amountOutMin, msg.sender, deadline);
    }

    // ---- relayed calls --------------------------------------------------------------------------------

    /// @inheritdoc ISwapTopUp
    function swapAndTopUpWithPermit(SwapRequest calldata req, Permit calldata permit, bytes calldata sig)
        external
        returns (uint256 amountOut)
    {
        // slither-disable-next-line incorrect-equality
        if (req.leaseId == 0) revert WrongRequestKind(0);
        _checkLease(req.leaseId, req.payer);
        _useRequest(req, permit, sig);
        amountOut = _swap(req.payer, req.path, req.amountIn, req.amountOutMin, address(this), req.deadline);
        _escrow.topUp(req.leaseId, amountOut);
    }

    /// @inheritdoc ISwapTopUp
    function swapToCreditWithPermit(SwapRequest calldata req, Permit calldata permit, bytes calldata sig)
        external
        returns (uint256 amountOut)
    {
        if (req.leaseId != 0) revert WrongRequestKind(req.leaseId);
        _useRequest(req, permit, sig);
        amountOut = _swap(req.payer, req.path, req.amountIn, req.amountOutMin, req.payer, req.deadline);
    }

    // ---- views ----------------------------------------------------------------------------------------

    /// @inheritdoc ISwapTopUp
    function nonces(address owner) public view override(ISwapTopUp, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @inheritdoc ISwapTopUp
    function digestSwapRequest(SwapRequest calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    _SWAP_REQUEST_TYPEHASH,
                    req.payer,
                    req.leaseId,
                    keccak256(abi.encodePacked(req.path)),
                    req.amountIn,
                    req.amountOutMin,
                    req.nonce,
                    req.deadline
                )
            )
        );
    }

    /// @inheritdoc ISwapTopUp
    function router() external view returns (address) {
        return address(_router);
    }

    /// @inheritdoc ISwapTopUp
    function escrow() external view returns (address) {
        return address(_escrow);
    }

    /// @inheritdoc ISwapTopUp
    function creditToken() external view returns (address) {
        return address(_credit);
    }

    // ---- internals ------------------------------------------------------------------------------------

    /// @dev The lease id binds its payer (`leaseId >> 64`, see {IDeploymentEscrow}): no call needed.
    function _checkLease(uint256 leaseId, address payer) private pure {
        if (address(uint160(leaseId >> 64)) != payer) revert NotLeasePayer(leaseId, payer);
    }

    /**
     * @dev Checks the payer's signature over `req` and its deadline, consumes its nonce, then applies the
     * permit (a failing permit, e.g. front-run, is fine when the allowance covers `amountIn`).
     */
    function _useRequest(SwapRequest calldata req, Permit calldata permit, bytes calldata sig) private {
        // The payer chose the deadline; a drift of seconds moves it by seconds.
        // slither-disable-next-line timestamp
        if (block.timestamp > req.deadline) revert ExpiredSignature(req.deadline);
        _useCheckedNonce(req.payer, req.nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(req.payer, digestSwapRequest(req), sig)) {
            revert InvalidSigner(req.payer);
        }
        // slither-disable-next-line incorrect-equality
        if (permit.value == 0 || req.path.length == 0) return;
        address tokenIn = req.path[0];
        try IERC20Permit(tokenIn)
            .permit(req.payer, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s) {}
        catch {
            uint256 allowance = IERC20(tokenIn).allowance(req.payer, address(this));
            if (allowance < req.amountIn) revert PermitFailed(req.payer, allowance, req.amountIn);
        }
    }

    /**
     * @dev Pulls `amountIn` of `path[0]` from `payer` and swaps it through the router for credit sent to
     * `to`; returns the credit the router reports delivered (`amounts[last]`, exact for the credit token).
     */
    function _swap(
        address payer,
        address[] calldata path,
        uint256 amountIn,
        uint256 amountOutMin,
        address to,
        uint256 deadline
    ) private returns (uint256) {
        uint256 n = path.length;
        if (n < 2) revert InvalidPath(address(0), address(_credit));
        if (path[n - 1] != address(_credit)) revert InvalidPath(path[n - 1], address(_credit));
        IERC20 tokenIn = IERC20(path[0]);
        tokenIn.safeTransferFrom(payer, address(this), amountIn);
        // One unlimited approval per input token (renewed only if a token decrements it): cheaper than an
        // exact approval per swap, and harmless since the adapter holds no one's funds between transactions
        // (the router only ever pulls the `amountIn` passed below; the deployer's dust is never moved).
        if (tokenIn.allowance(address(this), address(_router)) < amountIn) {
            tokenIn.forceApprove(address(_router), type(uint256).max);
        }
        // A low-level call: the amount out is the last word of the returned `uint256[] amounts` (n words),
        // read in place instead of ABI-decoding the array into fresh memory (a few hundred gas per swap).
        // The target is the immutable router; failures are bubbled and the return data length is checked.
        // slither-disable-next-line low-level-calls
        (bool ok, bytes memory ret) = address(_router)
            .call(
                abi.encodeCall(
                    IUniswapV2SwapRouter.swapExactTokensForTokens, (amountIn, amountOutMin, path, to, deadline)
                )
            );
        if (!ok) {
            // Bubble the router's revert (its `UniswapV2Router: ...` reason) unchanged.
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        // `ret` = offset, length n, n amounts: 64 + 32n bytes, the last word at ret + ret.length.
        if (ret.length != 64 + 32 * n) revert UnexpectedRouterReturn(ret.length);
        uint256 amountOut;
        assembly ("memory-safe") {
            amountOut := mload(add(ret, mload(ret)))
        }
        return amountOut;
    }
}
