// @vitest-environment node
import { describe, expect, it } from "vitest";
import { addDays, formatDay, isDay, todayIn } from "./dates";

describe("business days", () => {
  it("takes today in the business time zone, not the browser's", () => {
    const lateUtc = new Date("2026-03-03T23:30:00Z");
    expect(todayIn("UTC", lateUtc)).toBe("2026-03-03");
    expect(todayIn("Asia/Tokyo", lateUtc)).toBe("2026-03-04");
    expect(todayIn("America/New_York", new Date("2026-03-03T02:00:00Z"))).toBe("2026-03-02");
  });

  it("adds days across months and years", () => {
    expect(addDays("2026-03-01", -1)).toBe("2026-02-28");
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
  });

  it("formats a day without shifting it", () => {
    expect(formatDay("2026-03-03")).toBe("Tue, 3 Mar 2026");
    expect(isDay("2026-3-3")).toBe(false);
  });
});
