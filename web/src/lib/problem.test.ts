// @vitest-environment node
import { describe, expect, it } from "vitest";
import { ApiError, errorText, fieldErrorsOf, toFieldErrors, unwrap, type Problem } from "./problem";

const validation: Problem = {
  type: "https://ates.popug.inc/problems/validation",
  title: "Validation failed",
  status: 422,
  detail: "the request has invalid fields",
  errors: [
    { field: "title", message: "must not contain '[' or ']': put the Jira id in jira_id" },
    { field: "description", message: "too long" },
    { field: "description", message: "has a control character" },
  ],
};

describe("problem details to field errors", () => {
  it("maps each field to its message, joining repeats", () => {
    expect(toFieldErrors(validation)).toEqual({
      title: "must not contain '[' or ']': put the Jira id in jira_id",
      description: "too long; has a control character",
    });
  });

  it("gives nothing for a problem without errors or for other failures", () => {
    expect(toFieldErrors({ ...validation, errors: undefined })).toEqual({});
    expect(toFieldErrors(null)).toEqual({});
    expect(fieldErrorsOf(new Error("boom"))).toEqual({});
  });

  it("reads an ApiError's problem", () => {
    expect(fieldErrorsOf(new ApiError(422, validation)).title).toMatch(/Jira id/);
  });

  it("leaves errors already shown at their field out of the page message", () => {
    const error = new ApiError(422, validation);
    expect(errorText(error, ["title", "description"])).toBe("the request has invalid fields");
    expect(errorText(error, ["title"])).toContain("description: too long");
  });

  it("tells when to try again", () => {
    const error = new ApiError(429, { type: "x/too-many", title: "Too many", status: 429, detail: "too many logins" }, "30");
    expect(error.retryAfterSeconds).toBe(30);
    expect(errorText(error)).toBe("too many logins Try again in 30 s.");
  });

  it("recognises a problem type by its ending", () => {
    const error = new ApiError(403, { type: "https://ates.popug.inc/problems/password-change-required", title: "t", status: 403, detail: "d" });
    expect(error.hasType("password-change-required")).toBe(true);
  });

  it("unwrap throws for a non-2xx answer and returns data otherwise", () => {
    expect(unwrap({ data: { ok: 1 }, response: new Response(null, { status: 200 }) })).toEqual({ ok: 1 });
    expect(() => unwrap({ error: validation, response: new Response(null, { status: 422 }) })).toThrow(ApiError);
  });
});
