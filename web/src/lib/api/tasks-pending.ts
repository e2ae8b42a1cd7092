import type { components } from "./tasks";

// GET /v1/people is being added to tasks-api and is not in openapi/tasks-api.json yet.
// When it lands: `npm run generate`, drop `& PendingTasksPaths` in lib/api-clients.ts, delete this file.
type Problem = components["schemas"]["Problem"];

export interface PendingTasksPaths {
  "/v1/people": {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query?: never; header?: never; path?: never; cookie?: never };
      requestBody?: never;
      responses: {
        200: {
          headers: { [name: string]: unknown };
          content: {
            "application/json": {
              id: string;
              full_name: string;
              role: "admin" | "manager" | "accountant" | "worker";
              active: boolean;
            }[];
          };
        };
        401: { headers: { [name: string]: unknown }; content: { "application/problem+json": Problem } };
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
}
