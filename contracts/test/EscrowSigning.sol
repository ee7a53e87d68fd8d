// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Vm.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {CreditToken} from "../src/CreditToken.sol";
import {DeploymentEscrow} from "../src/DeploymentEscrow.sol";
import {IDeploymentEscrow} from "../src/interfaces/IDeploymentEscrow.sol";

/// @dev A minimal EIP-1271 contract wallet: one owner key signs for it; the owner makes it call anything.
contract OwnedWallet is IERC1271 {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    function execute(address target, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == owner, "not owner");
        (bool ok, bytes memory ret) = target.call(data);
        require(ok, "call failed");
        return ret;
    }
}

/**
 * @dev Builds the EIP-712 digests of escrow requests and credit-token permits from the type strings written
 * out here (independently of the contract's own typehashes), and signs them with forge keys.
 */
library EscrowSigning {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    string internal constant OPEN_TYPE = "OpenRequest(address payer,uint64 nodeId,uint256 ratePerSecond,uint256 deposit,"
        "bytes32 specHash,uint256 nonce,uint256 deadline)";
    string internal constant TOPUP_TYPE =
        "TopUpRequest(address payer,uint256 leaseId,uint256 amount,uint256 nonce,uint256 deadline)";
    string internal constant CLOSE_TYPE = "CloseRequest(address payer,uint256 leaseId,uint256 nonce,uint256 deadline)";
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    function domainSeparator(DeploymentEscrow escrow) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("CloudmarketEscrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
    }

    function digest(DeploymentEscrow escrow, bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(escrow), structHash));
    }

    function openDigest(DeploymentEscrow escrow, IDeploymentEscrow.OpenRequest memory r)
        internal
        view
        returns (bytes32)
    {
        return digest(
            escrow,
            keccak256(
                abi.encode(
                    keccak256(bytes(OPEN_TYPE)),
                    r.payer,
                    r.nodeId,
                    r.ratePerSecond,
                    r.deposit,
                    r.specHash,
                    r.nonce,
                    r.deadline
                )
            )
        );
    }

    function topUpDigest(DeploymentEscrow escrow, IDeploymentEscrow.TopUpRequest memory r)
        internal
        view
        returns (bytes32)
    {
        return digest(
            escrow, keccak256(abi.encode(keccak256(bytes(TOPUP_TYPE)), r.payer, r.leaseId, r.amount, r.nonce, r.deadline))
        );
    }

    /// @dev The quote type string, exact (issue 10).
    string internal constant QUOTE_TYPE =
        "Quote(address payer,uint64 nodeId,uint256 ratePerSecond,bytes32 specHash,uint256 expiry)";

    /// @dev The quote digest computed from the type string (no call into the escrow).
    function quoteDigest(
        DeploymentEscrow escrow,
        address payer,
        uint64 nodeId,
        uint256 rate,
        bytes32 specHash,
        uint256 expiry
    ) internal view returns (bytes32) {
        return digest(escrow, keccak256(abi.encode(keccak256(bytes(QUOTE_TYPE)), payer, nodeId, rate, specHash, expiry)));
    }

    function closeDigest(DeploymentEscrow escrow, IDeploymentEscrow.CloseRequest memory r)
        internal
        view
        returns (bytes32)
    {
        return digest(escrow, keccak256(abi.encode(keccak256(bytes(CLOSE_TYPE)), r.payer, r.leaseId, r.nonce, r.deadline)));
    }

    function sign(uint256 key, bytes32 hash) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    /// @dev A permit of `owner` (key `key`) for `spender`, at the owner's current token nonce.
    function permit(CreditToken token, uint256 key, address spender, uint256 value, uint256 deadline)
        internal
        view
        returns (IDeploymentEscrow.Permit memory p)
    {
        address owner = VM.addr(key);
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, token.nonces(owner), deadline));
        (p.v, p.r, p.s) = VM.sign(key, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        p.value = value;
        p.deadline = deadline;
    }
}
