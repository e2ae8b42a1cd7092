// @vitest-environment node
import { describe, expect, it } from "vitest";
import { fakeJwt } from "../test/fakes";
import { decodeClaims } from "./jwt";

describe("decodeClaims", () => {
  it("reads sub, role and email from the payload (base64url, UTF-8)", () => {
    const token = fakeJwt({ sub: "abc", role: "accountant", email: "kesha@popug.inc", exp: 10, name: "Кеша ??>" });
    expect(decodeClaims(token)).toEqual({ sub: "abc", role: "accountant", email: "kesha@popug.inc", exp: 10 });
  });

  it("refuses a token without a known role or a payload", () => {
    expect(decodeClaims(fakeJwt({ sub: "abc", role: "owner" }))).toBeNull();
    expect(decodeClaims("not-a-jwt")).toBeNull();
    expect(decodeClaims("a.!!!.c")).toBeNull();
  });
});
