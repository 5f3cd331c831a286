// The example, run by `make test` against a live server:
//   ONBOARDING_URL=http://127.0.0.1:8000/graphql PRIVATE_KEY=0x… npm start
// Signs in with a viem account, reads `me` and its order history, refreshes, logs out.
// Prints one `name: value` line per step.
import { GraphQLClient } from "graphql-request";
import { createWalletClient, custom } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

import { Me } from "./operations.js";
import { type Scheme, Session, errorCode } from "./session.js";

const url = process.env["ONBOARDING_URL"] ?? "http://127.0.0.1:8000/graphql";
const key = (process.env["PRIVATE_KEY"] ?? generatePrivateKey()) as `0x${string}`;
const scheme = (process.env["SCHEME"] ?? "eip191") as Scheme;

// A local account signs in-process; a page would use custom(window.ethereum) instead.
const account = privateKeyToAccount(key);
const wallet = createWalletClient({
  account,
  transport: custom({
    request: async ({ method }) => {
      throw new Error(`no chain node here (asked for ${method})`);
    },
  }),
});

const session = await Session.signIn(url, wallet, account, { scheme });
console.log(`wallet: ${session.wallet}`);
console.log(`profile: ${session.profileId}`);

const me = await session.me(10);
console.log(`me: ${me.id} ${me.wallet}`);
const orders = me.orderHistory.edges.map(({ node }) => `${node.id}:${node.marketId}:${node.status}`);
console.log(`orders: ${orders.join(",")}`);
console.log(`more orders: ${me.orderHistory.pageInfo.hasNextPage}`);

const before = session.accessToken;
await session.refresh();
console.log(`refreshed: ${session.accessToken !== before && (await session.me(1)).id === me.id}`);

const token = session.accessToken;
console.log(`logged out: ${await session.logout()}`);
// The old token is dead: `me` answers null or UNAUTHENTICATED.
try {
  const { me: after } = await new GraphQLClient(url, {
    headers: { Authorization: `Bearer ${token}` },
  }).request(Me, { first: 1 });
  console.log(`after logout: ${after ? "still signed in" : "signed out"}`);
} catch (error) {
  console.log(`after logout: ${errorCode(error) === "UNAUTHENTICATED" ? "signed out" : String(error)}`);
}
