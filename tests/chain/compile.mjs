// Compile Solidity sources with solc-js (npm `solc`, no compiler download) and print
// {"ContractName": "<creation bytecode hex>", ...} as JSON on stdout.
// Usage: node compile.mjs FILE.sol [FILE.sol ...]
// The settings are fixed so that the committed validator bytecode can be reproduced exactly.
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import solc from 'solc'

const sources = Object.fromEntries(
  process.argv.slice(2).map((file) => [basename(file), { content: readFileSync(file, 'utf8') }])
)
const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'paris', // no PUSH0: runs on every EVM chain an exchange may name
    metadata: { appendCBOR: false },
    outputSelection: { '*': { '*': ['evm.bytecode.object'] } },
  },
}
const output = JSON.parse(solc.compile(JSON.stringify(input)))
const errors = (output.errors || []).filter((e) => e.severity === 'error')
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'))
  process.exit(1)
}
const bytecodes = {}
for (const contracts of Object.values(output.contracts)) {
  for (const [name, contract] of Object.entries(contracts)) {
    bytecodes[name] = contract.evm.bytecode.object
  }
}
console.log(JSON.stringify({ solc: solc.version(), bytecodes }))
