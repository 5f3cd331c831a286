// GraphQL Code Generator: every document in src/ becomes a typed document in src/gql/, checked
// against the service's committed schema. A schema change that breaks a document fails here;
// one that changes a type fails `tsc --noEmit`.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**"],
  ignoreNoDocuments: false,
  emitLegacyCommonJSImports: false, // import "./graphql.js", as NodeNext resolution wants
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: {
          Int64: { input: "number | string", output: "number" },
          Decimal: { input: "string", output: "string" },
        },
      },
    },
  },
};

export default config;
