// The explorer's "Sign in with wallet" in a real browser: node explorer.mjs SCENARIO BASE_URL SHOTS_DIR
//   signin  (env PRIVATE_KEY, SCHEME): sign in, run `{ me { id wallet } }`, refresh, sign out
//   nowallet: no window.ethereum in the page
// Prints one JSON object with what the page showed; the pytest side asserts on it.
import { injectWallet, launch, recordForeignRequests } from "./browser.mjs";

const [scenario, base, shots] = process.argv.slice(2);
const ME = "{ me { id wallet } }";

// Replace the editor's text through CodeMirror's API, then wait for GraphiQL to take the edit
// in (it debounces edits; its tab title follows the operation name).
async function setQuery(page, query, title = "<untitled>") {
  await page.evaluate((text) => {
    document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(text);
  }, query);
  await page.waitForFunction(
    (expected) => document.querySelector(".graphiql-tab-active")?.innerText.trim() === expected,
    title,
  );
}

// Run the editor's operation with GraphiQL's run button; the result pane's text.
async function run(page) {
  const result = ".result-window .CodeMirror";
  await page.waitForSelector(result);
  await page.evaluate((selector) => document.querySelector(selector).CodeMirror.setValue(""), result);
  await page.click(".graphiql-execute-button");
  await page.waitForFunction((selector) => document.querySelector(selector).CodeMirror.getValue(), result, {
    timeout: 15000,
  });
  return page.evaluate((selector) => document.querySelector(selector).CodeMirror.getValue(), result);
}

const text = (page, testId) => page.getByTestId(testId).innerText();

const browser = await launch();
const out = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 820 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const foreign = recordForeignRequests(page, [new URL(base).origin]);
  await page.clock.install();
  let wallet = null;
  if (scenario === "signin") wallet = await injectWallet(page, process.env.PRIVATE_KEY);

  await page.goto(`${base}/graphql`);
  await page.getByTestId("wallet-sign-in").waitFor();
  out.defaultQuery = await page.evaluate(
    () => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.getValue(),
  );
  out.tabs = await page.locator(".graphiql-tab").allInnerTexts();
  out.firstRun = await run(page);

  if (scenario === "nowallet") {
    out.panel = await page.locator(".wallet-signin").innerText();
    await page.getByTestId("wallet-sign-in").click();
    out.message = await text(page, "wallet-message");
    await page.screenshot({ path: `${shots}/explorer-no-wallet.png` });
  } else {
    if (process.env.SCHEME === "eip712") {
      await page.locator(".wallet-signin select").nth(1).selectOption("eip712");
    }
    await page.getByTestId("wallet-sign-in").click();
    await page.getByTestId("wallet-profile-id").waitFor({ timeout: 15000 });
    out.wallet = await text(page, "wallet-address");
    out.profileId = await text(page, "wallet-profile-id");
    out.walletCalls = wallet.calls;
    out.toolbarLabel = await page.locator('[data-testid="wallet-toolbar"], button[aria-label^="Signed in as"]').first().getAttribute("aria-label");

    await setQuery(page, ME);
    out.me = await run(page);
    await page.screenshot({ path: `${shots}/explorer-signed-in.png` });

    // Jump this page's clock to just after the planned refresh (300 s before expiry).
    const expires = Date.parse(await text(page, "wallet-expires"));
    const pageNow = await page.evaluate(() => Date.now());
    await page.clock.fastForward(expires - pageNow - 200_000);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="wallet-refreshes"]')?.innerText === "1×",
      null,
      { timeout: 15000 },
    );
    await setQuery(page, `${ME} # after refresh`);
    out.meAfterRefresh = await run(page);

    await page.getByTestId("wallet-sign-out").click();
    out.signedOutMessage = await text(page, "wallet-message");
    await setQuery(page, `${ME} # signed out`);
    out.meSignedOut = await run(page);
    await page.screenshot({ path: `${shots}/explorer-signed-out.png` });
  }
  out.pageErrors = errors;
  out.foreignRequests = foreign;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
