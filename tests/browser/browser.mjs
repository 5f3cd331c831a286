// Debian's chromium driven by Playwright (playwright-core never downloads a browser), and an
// EIP-1193 wallet backed by viem's local account, for the browser tests in tests/api.
import { chromium } from "playwright-core";
import { hexToString, isHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

// Every request the page makes whose origin is not one of `allowed`, e.g. a CDN.
export function recordForeignRequests(page, allowed) {
  const foreign = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (!["data:", "blob:"].includes(url.protocol) && !allowed.includes(url.origin)) {
      foreign.push(request.url());
    }
  });
  return foreign;
}

// Inject `window.ethereum` before any page script runs; requests are answered here, in Node,
// by viem's local account (what a browser wallet does after the user clicks "Sign").
export async function injectWallet(page, privateKey) {
  const account = privateKeyToAccount(privateKey);
  const calls = [];
  await page.exposeFunction("__walletRequest", async (method, params) => {
    calls.push(method);
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [account.address];
      case "personal_sign": {
        const [data, address] = params;
        if (address.toLowerCase() !== account.address.toLowerCase()) throw new Error("unknown account");
        return account.signMessage({ message: isHex(data) ? { raw: data } : data });
      }
      case "eth_signTypedData_v4": {
        const [address, json] = params;
        if (address.toLowerCase() !== account.address.toLowerCase()) throw new Error("unknown account");
        const { EIP712Domain, ...types } = JSON.parse(json).types;
        const typed = JSON.parse(json);
        return account.signTypedData({
          domain: typed.domain,
          types,
          primaryType: typed.primaryType,
          message: { ...typed.message, timestamp: BigInt(typed.message.timestamp) },
        });
      }
      default:
        throw new Error(`unsupported method ${method}`);
    }
  });
  await page.addInitScript(() => {
    window.ethereum = {
      isTestWallet: true,
      request: ({ method, params }) => window.__walletRequest(method, params ?? []),
      on() {},
      removeListener() {},
    };
  });
  return { address: account.address, calls, hexToString };
}
