// CORS from a page on another origin, in a real browser: node cors.mjs PAGE_PORT API_URL
// Serves a tiny page on 127.0.0.1:PAGE_PORT (a second origin) whose script POSTs `{ serverTime }`
// to API_URL/graphql with a JSON body (so the browser sends a preflight first), and prints what
// the page could read: {"ok": true, status, body, requestId} or {"ok": false, "error"}.
import http from "node:http";
import { launch } from "./browser.mjs";

const [pagePort, api] = process.argv.slice(2);

const page = `<!doctype html><meta charset="utf-8"><title>another origin</title><script>
  window.outcome = fetch(${JSON.stringify(`${api}/graphql`)}, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Request-ID": "cors-test-1" },
    body: JSON.stringify({ query: "{ serverTime }" }),
  }).then(
    async (response) => ({
      ok: true,
      status: response.status,
      body: await response.json(),
      requestId: response.headers.get("X-Request-ID"),
    }),
    (error) => ({ ok: false, error: String(error) }),
  );
</script>`;

const server = http.createServer((request, response) => {
  response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
  response.end(page);
});
await new Promise((resolve) => server.listen(Number(pagePort), "127.0.0.1", resolve));
const browser = await launch();
try {
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${pagePort}/`);
  console.log(JSON.stringify(await tab.evaluate(() => window.outcome)));
} finally {
  await browser.close();
  server.close();
}
