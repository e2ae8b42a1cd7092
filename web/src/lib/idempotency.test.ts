// @vitest-environment node
import { describe, expect, it } from "vitest";
import { IdempotencyKeys } from "./idempotency";

describe("IdempotencyKeys", () => {
  it("reuses the key while the same action is retried, and draws a new one after success", () => {
    let n = 0;
    const keys = new IdempotencyKeys(() => `key-${++n}`);
    expect(keys.keyFor("create A")).toBe("key-1");
    expect(keys.keyFor("create A")).toBe("key-1");
    keys.succeeded();
    expect(keys.keyFor("create A")).toBe("key-2");
  });

  it("draws a new key when the action changes", () => {
    let n = 0;
    const keys = new IdempotencyKeys(() => `key-${++n}`);
    expect(keys.keyFor("create A")).toBe("key-1");
    expect(keys.keyFor("create B")).toBe("key-2");
  });
});
