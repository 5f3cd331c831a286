// SPDX-License-Identifier: CC0-1.0
// Wallet contracts that answer ERC-1271's isValidSignature(bytes32,bytes) in every wrong way the
// service must tell apart. Compiled by solc-js when the chain tests start.
pragma solidity ^0.8.0;

contract RevertingWallet {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        revert("this wallet refuses every signature");
    }
}

contract WrongMagicWallet {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        return 0xffffffff;
    }
}

contract GarbageWallet {
    fallback() external {
        assembly {
            mstore(0, 0xdeadbeefdeadbeefdeadbeef)
            return(20, 7)
        }
    }
}

contract SilentWallet {
    fallback() external {
        assembly {
            return(0, 0)
        }
    }
}

contract LoopingWallet {
    uint256 private counter;

    function isValidSignature(bytes32, bytes calldata) external returns (bytes4) {
        while (true) {
            counter += 1;
        }
        return 0x1626ba7e;
    }
}
