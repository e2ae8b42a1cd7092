import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The app server of `make run` (web-server) owns /session and /config.json;
// in development Vite proxies the APIs straight to the services.
const appServer = "http://127.0.0.1:3000";
const services = {
  auth: "http://127.0.0.1:3001",
  tasks: "http://127.0.0.1:3002",
  accounting: "http://127.0.0.1:3003",
  analytics: "http://127.0.0.1:3004",
} as const;

const apiProxy = Object.fromEntries(
  Object.entries(services).map(([service, target]) => {
    const prefix = `/api/${service}`;
    return [
      prefix,
      { target, changeOrigin: true, rewrite: (path: string) => path.slice(prefix.length) || "/" },
    ];
  }),
);

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      ...apiProxy,
      "/session": { target: appServer, changeOrigin: true },
      "/config.json": { target: appServer, changeOrigin: true },
    },
  },
  build: {
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    // The browser tests (e2e/, Playwright) run against a real stack, not here.
    include: ["src/**/*.test.{ts,tsx}"],
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    restoreMocks: true,
  },
});
