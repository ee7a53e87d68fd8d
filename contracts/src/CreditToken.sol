// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ICreditToken} from "./interfaces/ICreditToken.sol";

/**
 * @title CreditToken
 * @notice "Cloudmarket Credit" (CMC): 6 decimals, 1 credit = 1 USD, EIP-2612 permit, role-gated mint with
 * single-use payment references.
 */
contract CreditToken is ICreditToken, ERC20Permit, AccessControlDefaultAdminRules {
    /// @inheritdoc ICreditToken
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Delay of a default-admin transfer (two steps: begin, then accept after the delay).
    uint48 public constant ADMIN_TRANSFER_DELAY = 2 days;

    mapping(bytes32 ref => bool used) private _usedRefs;

    /**
     * @param admin Receives `DEFAULT_ADMIN_ROLE` (may grant and revoke `MINTER_ROLE`; transferred in two steps
     * with an `ADMIN_TRANSFER_DELAY` wait, `AccessControlDefaultAdminRules`).
     * @param minter Receives `MINTER_ROLE`; pass the zero address to grant it later.
     */
    constructor(address admin, address minter)
        ERC20("Cloudmarket Credit", "CMC")
        ERC20Permit("Cloudmarket Credit")
        AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin)
    {
        if (minter != address(0)) {
            _grantRole(MINTER_ROLE, minter);
        }
    }

    /// @notice Credits use 6 decimals: 10**6 units are one credit, worth one US dollar.
    /// @return Always 6.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @inheritdoc ICreditToken
    function mint(address to, uint256 amount, bytes32 ref) external onlyRole(MINTER_ROLE) {
        if (ref == bytes32(0)) revert ZeroRef();
        if (amount == 0) revert ZeroAmount();
        if (_usedRefs[ref]) revert RefAlreadyUsed(ref);
        _usedRefs[ref] = true;
        _mint(to, amount);
        emit CreditMinted(to, amount, ref);
    }

    /// @inheritdoc ICreditToken
    function burn(uint256 amount) external {
        _burn(_msgSender(), amount);
    }

    /// @inheritdoc ICreditToken
    function refUsed(bytes32 ref) external view returns (bool) {
        return _usedRefs[ref];
    }
}
