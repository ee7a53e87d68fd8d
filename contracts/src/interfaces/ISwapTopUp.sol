// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title ISwapTopUp
 * @notice A thin, stateless adapter: swap a token for credit through the Uniswap V2 router and top up the
 * payer's own lease in the escrow, in one transaction.
 *
 * Who pays and whose lease: the input tokens are pulled from the PAYER only — `msg.sender` for the direct
 * calls, the signer of a {SwapRequest} for the relayed ones — and a lease is topped up only if its payer
 * (bound into the lease id, `leaseId >> 64`) is that same payer ({NotLeasePayer} otherwise). The escrow's
 * {IDeploymentEscrow-topUp} pulls the credit from its caller, so the escrow sees this adapter as `from`.
 *
 * Events: none of its own. A top-up's {IDeploymentEscrow-LeaseToppedUp} names the lease (whose id binds the
 * payer) and the amount; the token `Transfer`s (payer -> adapter -> pair -> adapter/payer -> escrow) and the
 * pair's `Swap` record the rest. An event here would repeat them for about 2,400 gas per swap, a sixth of
 * the adapter's gas budget (15,000 over the plain router swap).
 *
 * Funds: the adapter keeps no user's funds between transactions: each call leaves its balances exactly as
 * it found them. It pulls exactly `amountIn`, the router takes exactly `amountIn` and delivers `amountOut`
 * (the router's return value), and the escrow pulls exactly `amountOut`. The router may spend this adapter's
 * input tokens (an unlimited approval given on first use of a token), the escrow its credit (approved at
 * construction); neither is ever asked for more than the call's own amounts.
 *
 * Dust (gas): the deployer gives the adapter one unit of the credit token and of each input token, which it
 * keeps for good. A swap then moves the adapter's balances 1 -> 1 + x -> 1 instead of 0 -> x -> 0: without
 * the dust each is a fresh storage slot set and cleared in one transaction, whose ~20k refund EIP-3529 caps
 * at a fifth of the transaction's gas (7k-11k more per `swapAndTopUp`). The adapter works
 * without dust too, only dearer; the dust is the deployer's and no call can spend it.
 *
 * Slippage and time: `amountOutMin` and `deadline` are passed to the router, which enforces them
 * (`UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT`, `UniswapV2Router: EXPIRED`); relayed requests carry them
 * inside the payer's signature, so a relayer cannot loosen them.
 *
 * Relayed calls (managed wallets: tokens, no ETH): anyone submits a {SwapRequest} signed by the payer (EIP-712,
 * domain name "CloudmarketSwapTopUp", version "1", this chain id and adapter address; ECDSA for an EOA,
 * EIP-1271 for a contract wallet) together with an EIP-2612 permit of the input token for this adapter.
 * The permit alone authorises nothing here: a request needs the payer's signature over every term (lease,
 * path, amounts, nonce, deadline); each nonce is used once ({nonces}). Type string:
 *   SwapRequest(address payer,uint256 leaseId,address[] path,uint256 amountIn,uint256 amountOutMin,uint256 nonce,uint256 deadline)
 * with `leaseId == 0` for {swapToCreditWithPermit} (credit delivered to the payer).
 */
interface ISwapTopUp {
    /**
     * @notice A swap signed by the payer (EIP-712 `SwapRequest`).
     * @param payer Whose input tokens are swapped (signer); the lease's payer; receives the credit otherwise.
     * @param leaseId The payer's lease to top up, or 0 to deliver the credit to the payer.
     * @param path Uniswap V2 route, input token first, the credit token last.
     * @param amountIn Input tokens to swap.
     * @param amountOutMin Least credit the swap must yield (the router reverts otherwise).
     * @param nonce The payer's next nonce ({nonces}).
     * @param deadline Last timestamp at which the request (and the swap) is valid.
     */
    struct SwapRequest {
        address payer;
        uint256 leaseId;
        address[] path;
        uint256 amountIn;
        uint256 amountOutMin;
        uint256 nonce;
        uint256 deadline;
    }

    /**
     * @notice An EIP-2612 permit of the input token, owner = the request's payer, spender = this adapter.
     * `value` zero means "no permit": the existing allowance is used (contract wallets, tokens without permit).
     * @param value Allowance to set.
     * @param deadline Permit deadline.
     * @param v Signature v.
     * @param r Signature r.
     * @param s Signature s.
     */
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    // ---- errors ---------------------------------------------------------------------------------------

    /// @notice Thrown when the zero address is given where a contract is needed.
    error ZeroAddress();

    /**
     * @notice Thrown when the route is shorter than two tokens or does not end in the credit token.
     * @param last The route's last token (zero if the route is shorter than two).
     * @param credit The credit token.
     */
    error InvalidPath(address last, address credit);

    /**
     * @notice Thrown when the lease to top up is not the payer's.
     * @param leaseId The lease id.
     * @param payer The payer whose tokens would have paid.
     */
    error NotLeasePayer(uint256 leaseId, address payer);

    /**
     * @notice Thrown when a signed request is submitted after its deadline.
     * @param deadline The request's deadline.
     */
    error ExpiredSignature(uint256 deadline);

    /**
     * @notice Thrown when a signed request's signature is not the payer's (ECDSA or EIP-1271).
     * @param payer The payer named in the request.
     */
    error InvalidSigner(address payer);

    /**
     * @notice Thrown when a permit failed and the allowance left does not cover the amount to pull.
     * @param payer The permit's owner.
     * @param allowance This adapter's allowance from `payer`.
     * @param needed The amount to pull.
     */
    error PermitFailed(address payer, uint256 allowance, uint256 needed);

    /**
     * @notice Thrown when a relayed request targets the wrong function (a lease for {swapToCreditWithPermit}
     * or none for {swapAndTopUpWithPermit}).
     * @param leaseId The request's lease id.
     */
    error WrongRequestKind(uint256 leaseId);

    /**
     * @notice Thrown when the router's answer is not the `uint256[]` of amounts a Uniswap V2 router returns
     * (e.g. no contract at the router address).
     * @param length The length of the data it returned.
     */
    error UnexpectedRouterReturn(uint256 length);

    // ---- direct calls (payer = msg.sender) ------------------------------------------------------------

    /**
     * @notice Swaps `amountIn` of `path[0]` from the caller for credit and tops up the caller's lease
     * `leaseId` with all of it. The caller approves this adapter for `path[0]` first.
     * @param path Uniswap V2 route, ending in the credit token.
     * @param amountIn Input tokens to swap.
     * @param amountOutMin Least credit accepted (router-enforced).
     * @param leaseId The caller's open lease.
     * @param deadline Router deadline (inclusive).
     * @return amountOut Credit added to the lease.
     */
    function swapAndTopUp(
        address[] calldata path,
        uint256 amountIn,
        uint256 amountOutMin,
        uint256 leaseId,
        uint256 deadline
    ) external returns (uint256 amountOut);

    /**
     * @notice Swaps `amountIn` of `path[0]` from the caller for credit delivered to the caller.
     * @param path Uniswap V2 route, ending in the credit token.
     * @param amountIn Input tokens to swap.
     * @param amountOutMin Least credit accepted (router-enforced).
     * @param deadline Router deadline (inclusive).
     * @return amountOut Credit delivered.
     */
    function swapToCredit(address[] calldata path, uint256 amountIn, uint256 amountOutMin, uint256 deadline)
        external
        returns (uint256 amountOut);

    // ---- relayed calls (payer = the request's signer) -------------------------------------------------

    /**
     * @notice {swapAndTopUp} for `req.payer`, submitted by anyone: the payer's signature over `req` is the
     * authority, `permit` (optional) gives this adapter the allowance to pull `req.amountIn`.
     * @param req The payer's request (`leaseId` non-zero, the payer's lease).
     * @param permit EIP-2612 permit of `req.path[0]` for this adapter (`value` 0: use the allowance).
     * @param sig The payer's EIP-712 signature over `req`.
     * @return amountOut Credit added to the lease.
     */
    function swapAndTopUpWithPermit(SwapRequest calldata req, Permit calldata permit, bytes calldata sig)
        external
        returns (uint256 amountOut);

    /**
     * @notice {swapToCredit} for `req.payer`, submitted by anyone (see {swapAndTopUpWithPermit}).
     * @param req The payer's request (`leaseId` 0).
     * @param permit EIP-2612 permit of `req.path[0]` for this adapter (`value` 0: use the allowance).
     * @param sig The payer's EIP-712 signature over `req`.
     * @return amountOut Credit delivered to the payer.
     */
    function swapToCreditWithPermit(SwapRequest calldata req, Permit calldata permit, bytes calldata sig)
        external
        returns (uint256 amountOut);

    // ---- views ----------------------------------------------------------------------------------------

    /// @notice The payer's next request nonce.
    function nonces(address payer) external view returns (uint256);

    /// @notice EIP-712 digest of `req` in this adapter's domain (for cross-checking off-chain signers).
    function digestSwapRequest(SwapRequest calldata req) external view returns (bytes32);

    /// @notice The Uniswap V2 router swaps go through.
    function router() external view returns (address);

    /// @notice The escrow leases are topped up in.
    function escrow() external view returns (address);

    /// @notice The credit token (the escrow's).
    function creditToken() external view returns (address);
}
