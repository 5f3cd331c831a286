// A browser frontend's session with onboarding-api: sign in with a wallet, call as the profile,
// refresh, log out. Nothing here is Node-specific: in a page, pass a viem WalletClient made with
// `createWalletClient({ transport: custom(window.ethereum) })` and the address its
// `requestAddresses()` returns.
import { ClientError, GraphQLClient } from "graphql-request";
import type { Account, Address, WalletClient } from "viem";

import { Logout, Me, Onboard, Refresh, SignInTexts } from "./operations.js";
import type { MeQuery } from "./gql/graphql.js";

// The signature's expiry (RBT-TS); the service accepts at most 600 s past its own clock.
const SIGNATURE_LIFETIME_SECONDS = 300;

export type Scheme = "eip191" | "eip712";
export type Profile = NonNullable<MeQuery["me"]>;
export type Order = Profile["orderHistory"]["edges"][number]["node"];

/** The error code of a GraphQL error response (`extensions.code`), if that is what `error` is. */
export function errorCode(error: unknown): string | undefined {
  if (!(error instanceof ClientError)) return undefined;
  const code = error.response.errors?.[0]?.extensions?.["code"];
  return typeof code === "string" ? code : undefined;
}

export class Session {
  private jwt: string | null = null;
  private refreshToken: string | null = null;

  private constructor(
    private readonly client: GraphQLClient,
    readonly profileId: string,
    readonly wallet: string,
  ) {}

  /**
   * Prove the wallet with EIP-191 `personal_sign` or EIP-712 typed data, and onboard as a client.
   * `account`: the address the wallet shared, or a local viem account.
   */
  static async signIn(
    url: string,
    wallet: WalletClient,
    account: Account | Address,
    { exchangeId = "rbx", scheme = "eip191" }: { exchangeId?: string; scheme?: Scheme } = {},
  ): Promise<Session> {
    const client = new GraphQLClient(url);
    const { exchanges, serverTime } = await client.request(SignInTexts);
    const exchange = exchanges.find((candidate) => candidate.id === exchangeId);
    if (!exchange) throw new Error(`the service does not onboard to ${exchangeId}`);
    const text = exchange.signInTexts[0];
    if (text === undefined) throw new Error(`${exchangeId} has no sign-in text`);
    const timestamp = serverTime + SIGNATURE_LIFETIME_SECONDS;

    const signature =
      scheme === "eip712"
        ? await wallet.signTypedData({
            account,
            domain: exchange.eip712Domain,
            types: {
              signin: [
                { name: "message", type: "string" },
                { name: "timestamp", type: "uint256" },
              ],
            },
            primaryType: "signin",
            message: { message: text, timestamp: BigInt(timestamp) },
          })
        : await wallet.signMessage({ account, message: `${text}\n${timestamp}` });

    const { onboard } = await client.request(Onboard, {
      input: { wallet: typeof account === "string" ? account : account.address, signature, timestamp, isClient: true, exchangeId },
    });
    const session = new Session(client, onboard.profile.id, onboard.profile.wallet);
    session.use(onboard.jwt, onboard.refreshToken);
    return session;
  }

  private use(jwt: string, refreshToken: string | null | undefined): void {
    if (!refreshToken) throw new Error("a client session always has a refresh token");
    this.jwt = jwt;
    this.refreshToken = refreshToken;
    this.client.setHeader("Authorization", `Bearer ${jwt}`);
  }

  /** Seconds until the access JWT expires (refresh a little before). */
  expiresIn(now = Date.now() / 1000): number {
    if (!this.jwt) return 0;
    const payload = this.jwt.split(".")[1] ?? "";
    const { exp } = JSON.parse(Buffer.from(payload, "base64url").toString()) as { exp: number };
    return exp - now;
  }

  /** The signed-in profile with a page of its order history (newest first). */
  async me(first = 20, after: string | null = null): Promise<Profile> {
    const { me } = await this.client.request(Me, { first, after });
    if (!me) throw new Error("not signed in");
    return me;
  }

  /** Trade the single-use refresh token for a new session (do it once, not concurrently). */
  async refresh(): Promise<void> {
    if (!this.refreshToken) throw new Error("signed out");
    const { refreshSession } = await this.client.request(Refresh, {
      refreshToken: this.refreshToken,
    });
    this.use(refreshSession.jwt, refreshSession.refreshToken);
  }

  /** End this session on the server; the JWT and refresh token stop working. */
  async logout(): Promise<boolean> {
    const { logout } = await this.client.request(Logout);
    this.jwt = null;
    this.refreshToken = null;
    return logout;
  }

  /** The access JWT, e.g. to show that it no longer works after `logout`. */
  get accessToken(): string | null {
    return this.jwt;
  }
}
