// @vitest-environment node
import { describe, expect, it } from "vitest";
import { formatCents } from "./money";

describe("formatCents", () => {
  it("shows dollars and cents", () => {
    expect(formatCents(1234)).toBe("$12.34");
    expect(formatCents(5)).toBe("$0.05");
    expect(formatCents(0)).toBe("$0.00");
    expect(formatCents(123456789)).toBe("$1,234,567.89");
  });

  it("puts a real minus sign before negative amounts", () => {
    expect(formatCents(-500)).toBe("\u2212$5.00");
    expect(formatCents(-1)).toBe("\u2212$0.01");
  });
});
