import type { components } from "./api/auth";

export type Problem = components["schemas"]["Problem"];
export type FieldErrors = Partial<Record<string, string>>;

export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.status === "number" && typeof candidate.title === "string";
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;
  readonly retryAfterSeconds: number | null;

  constructor(status: number, body: unknown, retryAfter: string | null = null) {
    const problem = isProblem(body) ? body : null;
    super(problem ? problem.detail || problem.title : `The server answered ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    const seconds = retryAfter === null ? NaN : Number.parseInt(retryAfter, 10);
    this.retryAfterSeconds = Number.isFinite(seconds) ? seconds : null;
  }

  hasType(suffix: string): boolean {
    return this.problem?.type.endsWith(suffix) ?? false;
  }
}

export async function apiErrorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, response.headers.get("Retry-After"));
}

// Several messages for one field are joined, so none is lost.
export function toFieldErrors(problem: Problem | null | undefined): FieldErrors {
  const fields: FieldErrors = {};
  for (const { field, message } of problem?.errors ?? []) {
    const earlier = fields[field];
    fields[field] = earlier ? `${earlier}; ${message}` : message;
  }
  return fields;
}

export function fieldErrorsOf(error: unknown): FieldErrors {
  return error instanceof ApiError ? toFieldErrors(error.problem) : {};
}

// The errors already shown next to a field are left out, so the page-level message is not a repeat.
export function errorText(error: unknown, shownFields: readonly string[] = []): string | null {
  if (error == null) return null;
  if (error instanceof ApiError) {
    const problem = error.problem;
    const unplaced = (problem?.errors ?? []).filter((e) => !shownFields.includes(e.field));
    const base = problem ? problem.detail || problem.title : error.message;
    const wait = error.retryAfterSeconds !== null ? ` Try again in ${error.retryAfterSeconds} s.` : "";
    const rest = unplaced.map((e) => `${e.field}: ${e.message}`).join("; ");
    return rest ? `${base}: ${rest}.${wait}` : `${base}${wait}`;
  }
  if (error instanceof TypeError) return "The server could not be reached. Check the connection and try again.";
  return error instanceof Error ? error.message : String(error);
}

// openapi-fetch answers { data } or { error, response }; a failure becomes a thrown ApiError.
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (!result.response.ok) {
    throw new ApiError(result.response.status, result.error, result.response.headers.get("Retry-After"));
  }
  return result.data as T;
}
