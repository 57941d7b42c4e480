// Real-browser end-to-end check of the cec-gateway demo: Debian's Chromium driven by
// playwright-core (which reports console messages, page errors and failed requests: the
// evidence for "no CORS or script errors" that WebDriver cannot read).
//
//   node tests/browser/e2e.mjs --url <page url> --expect ok|blocked --screenshot <png>
//        [--message <text>] [--gateway-host <host>] [--chromium <path>] [--timeout-ms <ms>]
//
// ok:      the chat bubble appears, opens a panel "connected as Demo Guest", a message comes
//          back as "echo: <message>", the context holds ccmessaging-token for the gateway's
//          host, and there were no console errors, page errors or failed requests.
// blocked: no chat bubble within a few seconds, and the console shows the CORS error
//          (Access-Control-Allow-Origin).
// The gateway's host is the host of ?gateway= in the URL, else the URL's own host.
// Always saves the screenshot; prints one JSON line; exits 0 on success, 1 on a failed
// expectation, 2 on bad usage or a browser that would not start.

import { chromium } from "playwright-core";

const USAGE =
  "usage: node e2e.mjs --url <page url> --expect ok|blocked --screenshot <png path> " +
  "[--message <text>] [--gateway-host <host>] [--chromium <path>] [--timeout-ms <ms>]";

function parseArgs(argv) {
  const opts = {
    chromium: "/usr/bin/chromium",
    message: "hello from the browser test",
    timeoutMs: 20000,
    blockedWaitMs: 4000,
    user: "Demo Guest",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${key}`);
    switch (key) {
      case "--url": opts.url = value; break;
      case "--expect": opts.expect = value; break;
      case "--screenshot": opts.screenshot = value; break;
      case "--message": opts.message = value; break;
      case "--gateway-host": opts.gatewayHost = value; break;
      case "--chromium": opts.chromium = value; break;
      case "--timeout-ms": opts.timeoutMs = Number(value); break;
      case "--user": opts.user = value; break;
      default: throw new Error(`unknown option ${key}`);
    }
  }
  if (!opts.url || !opts.screenshot || !["ok", "blocked"].includes(opts.expect)) {
    throw new Error("--url, --expect ok|blocked and --screenshot are required");
  }
  const page = new URL(opts.url); // throws on a bad URL
  if (!opts.gatewayHost) {
    const gateway = page.searchParams.get("gateway");
    opts.gatewayHost = gateway ? new URL(gateway).hostname : page.hostname;
  }
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) throw new Error("bad --timeout-ms");
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`e2e: ${err.message}\n${USAGE}`);
  process.exit(2);
}

const seen = {
  expect: opts.expect,
  url: opts.url,
  gatewayHost: opts.gatewayHost,
  status: null,
  widget: false,
  panel: null,
  echoed: false,
  cookies: [],
  console: [],
  consoleErrors: [],
  pageErrors: [],
  failedRequests: [],
  httpErrors: [],
  clientJsBodyKeys: null,
  screenshot: opts.screenshot,
  failures: [],
  ok: false,
};
const fail = (message) => seen.failures.push(message);

let browser;
try {
  browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: opts.timeoutMs,
  });
} catch (err) {
  console.error(`e2e: cannot start Chromium at ${opts.chromium}: ${err.message}`);
  process.exit(2);
}

try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(opts.timeoutMs);
  const page = await context.newPage();
  page.on("console", (msg) => {
    const line = `${msg.type()}: ${msg.text()}`;
    seen.console.push(line);
    if (msg.type() === "error") seen.consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => seen.pageErrors.push(String(err && err.message ? err.message : err)));
  page.on("requestfailed", (req) =>
    seen.failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText ?? "failed"}`),
  );
  page.on("request", (req) => {
    if (req.method() === "POST" && new URL(req.url()).pathname.endsWith("/newThirdPartyClient.js")) {
      try {
        seen.clientJsBodyKeys = Object.keys(JSON.parse(req.postData() ?? ""));
      } catch {
        seen.clientJsBodyKeys = ["<not JSON>"];
      }
    }
  });
  page.on("response", (resp) => {
    if (resp.status() >= 400) seen.httpErrors.push(`${resp.status()} ${resp.request().method()} ${resp.url()}`);
  });

  try {
    await page.goto(opts.url, { waitUntil: "load" });
    if (opts.expect === "ok") {
      await expectOk(page, context);
    } else {
      await expectBlocked(page);
    }
  } catch (err) {
    fail(`${err.name || "Error"}: ${err.message.split("\n")[0]}`);
  } finally {
    seen.status = await page.locator("#status").textContent({ timeout: 1000 }).catch(() => null);
    await page.screenshot({ path: opts.screenshot, fullPage: true }).catch((err) => fail(`screenshot: ${err.message}`));
  }
} finally {
  await browser.close().catch(() => {});
}

seen.ok = seen.failures.length === 0;
console.log(JSON.stringify(seen));
if (!seen.ok) {
  console.error(`e2e (${opts.expect}) FAILED:\n  - ${seen.failures.join("\n  - ")}`);
  process.exit(1);
}

async function expectOk(page, context) {
  // The page itself holds no secret: what it sends has neither secretKey nor a signature.
  await page.waitForFunction(() => document.getElementById("status")?.className !== "");
  const status = page.locator("#status");
  if ((await status.getAttribute("class")) === "failed") {
    throw new Error(`the page reports: ${await status.textContent()}`);
  }
  if (seen.clientJsBodyKeys === null) fail("the page did not POST newThirdPartyClient.js");
  for (const key of ["secretKey", "thirdPartAuthorization"]) {
    if (seen.clientJsBodyKeys?.includes(key)) fail(`the page sent ${key}`);
  }
  const bubble = page.locator("#cec-chat-bubble");
  await bubble.waitFor({ state: "visible" });
  seen.widget = true;
  await bubble.click();
  const panel = page.locator("#cec-chat-panel");
  await panel.waitFor({ state: "visible" });
  seen.panel = (await panel.innerText()).split("\n")[0];
  const who = `connected as ${opts.user}`;
  if (!(await panel.innerText()).includes(who)) fail(`the panel does not say "${who}"`);

  await page.locator("#cec-chat-input").fill(opts.message);
  await page.locator("#cec-chat-send").click();
  const reply = `echo: ${opts.message}`;
  const cookies = async () => {
    const all = await context.cookies();
    seen.cookies = all.map((c) => ({ name: c.name, domain: c.domain, path: c.path, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite }));
    return all;
  };
  try {
    await page.locator("#cec-chat-messages li", { hasText: reply }).first().waitFor({ state: "visible" });
  } catch (err) {
    const chat = await page.locator("#cec-chat-messages").innerText().catch(() => "?");
    const names = (await cookies()).map((c) => `${c.name}@${c.domain}`).join(", ") || "none";
    throw new Error(`no "${reply}" (${err.message.split("\n")[0]}); the chat shows: ${JSON.stringify(chat)}; cookies: ${names}`);
  }
  seen.echoed = true;

  const all = await cookies();
  const tokens = all.filter((c) => c.name === "ccmessaging-token");
  const bare = (domain) => domain.replace(/^\./, "");
  if (tokens.length === 0) fail("no ccmessaging-token cookie in the browser");
  for (const c of tokens) {
    if (bare(c.domain) !== opts.gatewayHost) {
      fail(`ccmessaging-token has domain ${c.domain}; expected the gateway's host ${opts.gatewayHost}`);
    }
  }
  if (seen.consoleErrors.length) fail(`console errors: ${seen.consoleErrors.join(" | ")}`);
  if (seen.pageErrors.length) fail(`page errors: ${seen.pageErrors.join(" | ")}`);
  if (seen.failedRequests.length) fail(`failed requests: ${seen.failedRequests.join(" | ")}`);
  if (seen.httpErrors.length) fail(`HTTP errors: ${seen.httpErrors.join(" | ")}`);
}

async function expectBlocked(page) {
  const bubble = page.locator("#cec-chat-bubble");
  const appeared = await bubble
    .waitFor({ state: "visible", timeout: opts.blockedWaitMs })
    .then(() => true, () => false);
  seen.widget = appeared;
  if (appeared) fail("the chat widget appeared although the origin should be blocked by CORS");
  const cors = () => seen.consoleErrors.some((m) => /Access-Control-Allow-Origin/.test(m));
  // The CORS message can trail the failed fetch a little: give it a moment.
  for (let i = 0; i < 20 && !cors(); i++) await page.waitForTimeout(100);
  if (!cors()) fail("no CORS error (Access-Control-Allow-Origin) in the console");
}
