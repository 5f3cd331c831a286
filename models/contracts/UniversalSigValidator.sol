// SPDX-License-Identifier: CC0-1.0
// The reference implementation of ERC-6492 ("Signature Validation for Predeploy Contracts",
// section "Reference Implementation"), unchanged in behaviour. The service never deploys it:
// `ValidateSigOffchain`'s creation code plus its constructor arguments is sent as the data of an
// `eth_call` without a `to` address, so the node runs it in a throw-away state and answers one
// byte, 0x01 (valid) or 0x00. Compiled by solc-js (tests/chain/compile.mjs) into
// ValidateSigOffchain.hex beside this file; tests/chain/test_validator_bytecode.py recompiles it
// and compares.
pragma solidity ^0.8.0;

// As per ERC-1271
interface IERC1271Wallet {
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4 magicValue);
}

error ERC1271Revert(bytes error);
error ERC6492DeployFailed(bytes error);

contract UniversalSigValidator {
    bytes32 private constant ERC6492_DETECTION_SUFFIX =
        0x6492649264926492649264926492649264926492649264926492649264926492;
    bytes4 private constant ERC1271_SUCCESS = 0x1626ba7e;

    function isValidSigImpl(
        address _signer,
        bytes32 _hash,
        bytes calldata _signature,
        bool allowSideEffects,
        bool tryPrepare
    ) public returns (bool) {
        uint256 contractCodeLen = address(_signer).code.length;
        bytes memory sigToValidate;
        // The order here is strictly defined in ERC-6492:
        // - the ERC-6492 suffix check and verification first, while being permissive in case the
        //   contract is already deployed; if it is, the signature is checked against the deployed
        //   version, so that 6492 signatures still validate after a key rotation
        // - ERC-1271 verification if there is contract code
        // - finally, ecrecover
        bool isCounterfactual = bytes32(_signature[_signature.length - 32:_signature.length]) == ERC6492_DETECTION_SUFFIX;
        if (isCounterfactual) {
            address create2Factory;
            bytes memory factoryCalldata;
            (create2Factory, factoryCalldata, sigToValidate) = abi.decode(_signature[0:_signature.length - 32], (address, bytes, bytes));

            if (contractCodeLen == 0 || tryPrepare) {
                (bool success, bytes memory err) = create2Factory.call(factoryCalldata);
                if (!success) revert ERC6492DeployFailed(err);
            }
        } else {
            sigToValidate = _signature;
        }

        // Try ERC-1271 verification
        if (isCounterfactual || contractCodeLen > 0) {
            try IERC1271Wallet(_signer).isValidSignature(_hash, sigToValidate) returns (bytes4 magicValue) {
                bool isValid = magicValue == ERC1271_SUCCESS;

                // retry, but this time assume the prefix is a prepare call
                if (!isValid && !tryPrepare && contractCodeLen > 0) {
                    return isValidSigImpl(_signer, _hash, _signature, allowSideEffects, true);
                }

                if (contractCodeLen == 0 && isCounterfactual && !allowSideEffects) {
                    // if the call had side effects we need to return the
                    // result using a `revert` (to undo the state changes)
                    assembly {
                        mstore(0, isValid)
                        revert(31, 1)
                    }
                }

                return isValid;
            } catch (bytes memory err) {
                // retry, but this time assume the prefix is a prepare call
                if (!tryPrepare && contractCodeLen > 0) {
                    return isValidSigImpl(_signer, _hash, _signature, allowSideEffects, true);
                }

                revert ERC1271Revert(err);
            }
        }

        // ecrecover verification
        require(_signature.length == 65, "SignatureValidator#recoverSigner: invalid signature length");
        bytes32 r = bytes32(_signature[0:32]);
        bytes32 s = bytes32(_signature[32:64]);
        uint8 v = uint8(_signature[64]);
        if (v != 27 && v != 28) {
            revert("SignatureValidator: invalid signature v value");
        }
        return ecrecover(_hash, v, r, s) == _signer;
    }

    function isValidSigWithSideEffects(address _signer, bytes32 _hash, bytes calldata _signature)
        external
        returns (bool)
    {
        return this.isValidSigImpl(_signer, _hash, _signature, true, false);
    }

    function isValidSig(address _signer, bytes32 _hash, bytes calldata _signature) external returns (bool) {
        try this.isValidSigImpl(_signer, _hash, _signature, false, false) returns (bool isValid) {
            return isValid;
        } catch (bytes memory error) {
            // in order to avoid side effects from the contract getting deployed, the entire call
            // will revert with a single byte result
            uint256 len = error.length;
            if (len == 1) return error[0] == 0x01;
            // all other errors are simply forwarded, but in custom formats so that nothing else
            // can revert with a single byte in the call
            else {
                assembly {
                    revert(error, len)
                }
            }
        }
    }
}

// this is a helper so we can perform validation in a single eth_call without pre-deploying a
// singleton
contract ValidateSigOffchain {
    constructor(address _signer, bytes32 _hash, bytes memory _signature) {
        UniversalSigValidator validator = new UniversalSigValidator();
        bool isValidSig = validator.isValidSigWithSideEffects(_signer, _hash, _signature);
        assembly {
            mstore(0, isValidSig)
            return(31, 1)
        }
    }
}
