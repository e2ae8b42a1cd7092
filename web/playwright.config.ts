import os from "node:os";
import path from "node:path";
import { defineConfig } from "@playwright/test";

// The browser tests (e2e/*.spec.ts) against a private stack: NATS, the four services and
// web-server, started by e2e/global-setup.ts (scripts/e2e-stack.sh). The screenshots of the
// README (e2e/*.shots.ts) are a project of their own, run only with E2E_SCREENSHOTS=1.
//
// Playwright's browser builds cannot be downloaded here: the tests drive Debian's Chromium
// (scripts/install-deps.sh installs it), without its sandbox when run as root.
const chromium = process.env.E2E_CHROMIUM ?? "/usr/bin/chromium";
const asRoot = process.getuid?.() === 0;
const screenshots = process.env.E2E_SCREENSHOTS === "1";

export default defineConfig({
  testDir: "./e2e",
  globalSetup: "./e2e/global-setup.ts",
  // One shared stack whose accounts each test arranges: one test at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  // The app polls every 4 s and the services hear each other's events within a second or so.
  expect: { timeout: 15_000 },
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  reporter: [["list"]],
  // Traces and failure screenshots stay out of the git tree.
  outputDir: process.env.E2E_OUTPUT_DIR ?? path.join(os.tmpdir(), "ates-e2e-results"),
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    locale: "en-GB",
    timezoneId: "UTC",
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: chromium,
      args: asRoot ? ["--no-sandbox"] : [],
    },
  },
  projects: screenshots
    ? [{ name: "screenshots", testMatch: /.*\.shots\.ts$/ }]
    : [{ name: "e2e", testMatch: /.*\.spec\.ts$/ }],
});
