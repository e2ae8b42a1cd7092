// @vitest-environment node
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "./config";

const good = {
  api: { auth: "/api/auth", tasks: "/api/tasks", accounting: "/api/accounting", analytics: "/api/analytics" },
  session: "/session",
  business_timezone: "Europe/Moscow",
};

describe("config.json", () => {
  it("gives the API bases, the session base and the business time zone", () => {
    expect(parseConfig(good)).toEqual(good);
  });

  it("refuses a document without a service base or with an unknown time zone", () => {
    expect(() => parseConfig({ ...good, api: { ...good.api, analytics: undefined } })).toThrow(/api.analytics/);
    expect(() => parseConfig({ ...good, session: 3 })).toThrow(/session/);
    expect(() => parseConfig({ ...good, business_timezone: "Mars/Olympus" })).toThrow(RangeError);
  });

  it("is fetched from /config.json", async () => {
    const fetchFn = async (input: RequestInfo | URL) => {
      expect(String(input)).toBe("/config.json");
      return new Response(JSON.stringify(good), { status: 200 });
    };
    expect(await loadConfig(fetchFn as typeof fetch)).toEqual(good);
  });
});
