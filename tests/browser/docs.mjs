// /docs (Swagger UI) in a real browser: node docs.mjs BASE_URL SHOTS_DIR
// Prints the rendered title and operations, page errors, and every request that left the origin.
import { launch, recordForeignRequests } from "./browser.mjs";

const [base, shots] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const foreign = recordForeignRequests(page, [new URL(base).origin]);
  await page.goto(`${base}/docs`);
  await page.locator(".swagger-ui .info .title").waitFor({ timeout: 20000 });
  await page.locator(".opblock-summary-path").first().waitFor();
  await page.locator(".opblock-summary").first().click(); // expand POST /onboarding
  await page.locator(".opblock-body").first().waitFor();
  const out = {
    title: await page.locator(".swagger-ui .info .title").innerText(),
    paths: await page.locator(".opblock-summary-path").allInnerTexts(),
    tryItOut: await page.locator(".try-out__btn").count(),
    pageErrors: errors,
    foreignRequests: foreign,
  };
  await page.screenshot({ path: `${shots}/docs.png` });
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
