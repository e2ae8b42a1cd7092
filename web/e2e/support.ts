import AxeBuilder from "@axe-core/playwright";
import { test as base, expect, request, type APIRequestContext, type Page } from "@playwright/test";
import type { components as Accounting } from "../src/lib/api/accounting";
import type { components as Analytics } from "../src/lib/api/analytics";
import type { components as Auth } from "../src/lib/api/auth";
import type { components as Tasks } from "../src/lib/api/tasks";

// What the browser tests share: the stack's address and admin (set by global-setup.ts), a
// client of the services through web-server's /api/ proxy for arranging data, and helpers
// that act as a user does.

export type Role = Auth["schemas"]["Role"];
export type Account = Auth["schemas"]["Account"];
export type Person = Tasks["schemas"]["Person"];
export type Task = Tasks["schemas"]["Task"];
export type AccountBalance = Accounting["schemas"]["AccountBalance"];
export type BillingCycle = Accounting["schemas"]["BillingCycle"];
export type Transaction = Accounting["schemas"]["Transaction"];
export type MyAccount = Accounting["schemas"]["MyAccount"];
export type DailyEarnings = Accounting["schemas"]["DailyEarnings"];
export type Today = Analytics["schemas"]["Today"];
export type MostExpensive = Analytics["schemas"]["MostExpensive"];

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through playwright.config.ts (its global set-up starts the stack)`);
  return value;
}

export const stack = {
  get baseURL() {
    return required("E2E_BASE_URL");
  },
  get adminEmail() {
    return required("E2E_ADMIN_EMAIL");
  },
  get adminPassword() {
    return required("E2E_ADMIN_PASSWORD");
  },
};

let counter = 0;
// Unique per run and call: every test makes its own accounts and tasks on the shared stack.
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}${counter}`;
}

// The app's money format: `$12.34`, `−$5.00` (a real minus sign), thousands with commas.
export function dollars(cents: number): string {
  const sign = cents < 0 ? "\u2212" : "";
  const abs = Math.abs(cents);
  return `${sign}$${Math.floor(abs / 100).toLocaleString("en-US")}.${String(abs % 100).padStart(2, "0")}`;
}

// The business day (UTC, web-server's default BUSINESS_TIMEZONE) as YYYY-MM-DD.
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

// A business day as the app writes it, formatted by the browser the app runs in.
export function shownDay(page: Page, day: string): Promise<string> {
  return page.evaluate(
    (d) =>
      new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: "numeric" }).format(
        new Date(`${d}T00:00:00Z`),
      ),
    day,
  );
}

// A person's name, made unique (a second run on the same stack finds only its own people).
export function person(name: string): string {
  return `${name} ${unique("n").slice(2)}`;
}

export interface User {
  id: string;
  email: string;
  password: string;
  fullName: string;
  role: Role;
}

const assignableRoles: readonly Role[] = ["worker", "accountant"];

// The services, through web-server's proxy, as a script would call them.
export class Api {
  private constructor(private readonly http: APIRequestContext) {}

  static async open(): Promise<Api> {
    return new Api(await request.newContext({ baseURL: stack.baseURL }));
  }

  async close(): Promise<void> {
    await this.http.dispose();
  }

  private async call<T>(method: string, path: string, token: string | null, data?: unknown, expected = 200): Promise<T> {
    const response = await this.http.fetch(path, {
      method,
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(method === "POST" ? { "Idempotency-Key": crypto.randomUUID() } : {}),
      },
      ...(data === undefined ? {} : { data }),
    });
    if (response.status() !== expected) {
      throw new Error(`${method} ${path}: ${response.status()} ${await response.text()}`);
    }
    return (response.status() === 204 ? undefined : await response.json()) as T;
  }

  get<T>(path: string, token: string): Promise<T> {
    return this.call<T>("GET", path, token);
  }

  post<T>(path: string, token: string | null, data: unknown = {}, expected = 200): Promise<T> {
    return this.call<T>("POST", path, token, data, expected);
  }

  // Every item of a list the services page by cursor: follows `next_cursor`, 100 at a time.
  async all<T>(path: string, token: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null | undefined;
    do {
      const query = new URLSearchParams({ per_page: "100", ...(cursor ? { cursor } : {}) });
      const page = await this.get<{ items: T[]; next_cursor?: string | null }>(`${path}${path.includes("?") ? "&" : "?"}${query}`, token);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  async logIn(email: string, password: string): Promise<string> {
    const tokens = await this.post<{ access_token: string }>("/api/auth/v1/auth/login", null, { email, password });
    return tokens.access_token;
  }

  adminToken(): Promise<string> {
    return this.logIn(stack.adminEmail, stack.adminPassword);
  }

  // An account made by the admin, its temporary password already changed to `password`.
  async createAccount(admin: string, role: Role, fullName: string, email = `${unique(role)}@popug.inc`): Promise<User> {
    const temporary = "temporary password";
    const password = `${role} password for the browser tests`;
    const account = await this.post<Account>("/api/auth/v1/accounts", admin, { email, full_name: fullName, role, password: temporary }, 201);
    await this.post("/api/auth/v1/auth/password", null, { email, current_password: temporary, new_password: password });
    return { id: account.id, email: account.email, password, fullName, role };
  }

  accounts(admin: string): Promise<Account[]> {
    return this.all<Account>("/api/auth/v1/accounts", admin);
  }

  async setActive(admin: string, id: string, active: boolean): Promise<void> {
    await this.call("PATCH", `/api/auth/v1/accounts/${id}`, admin, { active });
  }

  people(token: string): Promise<Person[]> {
    return this.all<Person>("/api/tasks/v1/people", token);
  }

  // Tasks go to a random active worker or accountant: deactivates every other one (and
  // reactivates `keep`) and waits until tasks-api has heard, so the next task goes to one of
  // `keep` and no one else.
  async onlyAssignable(admin: string, keep: readonly User[]): Promise<void> {
    const ids = keep.map((user) => user.id);
    for (const account of await this.accounts(admin)) {
      const wanted = ids.includes(account.id);
      if (wanted !== account.active && (wanted || assignableRoles.includes(account.role))) {
        await this.setActive(admin, account.id, wanted);
      }
    }
    await expect
      .poll(async () =>
        (await this.people(admin))
          .filter((person) => person.active && assignableRoles.includes(person.role))
          .map((person) => person.id)
          .sort(),
      )
      .toEqual([...ids].sort());
  }

  createTask(token: string, title: string, jiraId: string | null = null, description = ""): Promise<Task> {
    return this.post<Task>("/api/tasks/v1/tasks", token, { title, jira_id: jiraId, description }, 201);
  }

  complete(token: string, taskId: string): Promise<Task> {
    return this.post<Task>(`/api/tasks/v1/tasks/${taskId}/complete`, token);
  }

  // No list gives a total any more: counted page by page.
  async openTaskCount(token: string): Promise<number> {
    return (await this.all<Task>("/api/tasks/v1/tasks?status=open", token)).length;
  }

  balances(token: string): Promise<AccountBalance[]> {
    return this.all<AccountBalance>("/api/accounting/v1/accounts", token);
  }

  billingCycles(token: string): Promise<BillingCycle[]> {
    return this.all<BillingCycle>("/api/accounting/v1/billing-cycles", token);
  }

  me(token: string): Promise<MyAccount> {
    return this.get<MyAccount>("/api/accounting/v1/me", token);
  }

  myTransactions(token: string, day = today()): Promise<Transaction[]> {
    return this.all<Transaction>(`/api/accounting/v1/me/transactions?date=${day}`, token);
  }

  transactionsOf(token: string, accountId: string, day = today()): Promise<Transaction[]> {
    return this.all<Transaction>(`/api/accounting/v1/accounts/${accountId}/transactions?date=${day}`, token);
  }

  managementEarnings(token: string, from: string, to: string): Promise<DailyEarnings[]> {
    return this.get<DailyEarnings[]>(`/api/accounting/v1/stats/management?from=${from}&to=${to}`, token);
  }

  analyticsToday(token: string): Promise<Today> {
    return this.get<Today>("/api/analytics/v1/dashboard/today", token);
  }

  mostExpensiveToday(token: string): Promise<MostExpensive> {
    return this.get<MostExpensive>(`/api/analytics/v1/most-expensive-task?period=day&date=${today()}`, token);
  }

  // Waits until accounting has applied the task's fee and, when done, its reward for `user`.
  async settled(token: string, taskIds: readonly string[], withRewards: boolean): Promise<Transaction[]> {
    let last: Transaction[] = [];
    await expect
      .poll(async () => {
        last = await this.myTransactions(token);
        return taskIds.every(
          (id) =>
            last.some((t) => t.kind === "assignment_fee" && t.task?.id === id) &&
            (!withRewards || last.some((t) => t.kind === "task_reward" && t.task?.id === id)),
        );
      })
      .toBe(true);
    return last;
  }
}

// `api`: a client of the stack; `baseURL`: the stack's web-server, for page.goto("/...").
export const test = base.extend<{ api: Api }>({
  baseURL: async ({}, use) => {
    await use(stack.baseURL);
  },
  api: async ({}, use) => {
    const api = await Api.open();
    await use(api);
    await api.close();
  },
});
export { expect };

// Logs in through the form, as a person does; resolves once the first screen shows.
export async function logIn(page: Page, user: { email: string; password: string }): Promise<void> {
  await page.goto("/");
  await page.getByLabel("Email", { exact: true }).fill(user.email);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "My tasks" })).toBeVisible();
}

export async function logOut(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByText("You are logged out.")).toBeVisible();
}

export function nav(page: Page) {
  return page.getByRole("navigation", { name: "Main" });
}

export async function goTo(page: Page, screen: string): Promise<void> {
  await nav(page).getByRole("link", { name: screen, exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: screen })).toBeVisible();
}

// On the accounting screen: finds the account by name in the audit log's picker and shows its day.
export async function showAuditLogOf(page: Page, fullName: string): Promise<void> {
  await page.getByRole("searchbox", { name: "Find an account" }).fill(fullName);
  await page.getByLabel("Account", { exact: true }).selectOption({ label: fullName });
}

// The rows of a table (by caption) whose cells read exactly `cells` (undefined: any text).
export function row(page: Page, table: string | RegExp, cells: readonly (string | undefined)[]) {
  const rows = page.getByRole("table", { name: table }).getByRole("row");
  let match = rows;
  for (const text of cells) if (text !== undefined) match = match.filter({ has: page.getByRole("cell", { name: text, exact: true }) });
  return match;
}

export interface AxeSummary {
  screen: string;
  violations: { id: string; impact: string | null | undefined; nodes: string[] }[];
  all: number;
  passes: number;
}

// Runs axe on what the page shows now; returns the serious and critical violations.
export async function axe(page: Page, screen: string): Promise<AxeSummary> {
  const results = await new AxeBuilder({ page }).analyze();
  const violations = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  const summary = { screen, violations, all: results.violations.length, passes: results.passes.length };
  test.info().annotations.push({
    type: "axe",
    description: `${screen}: ${results.passes.length} rules passed, ${results.violations.length} violations (${violations.length} serious or critical)${results.violations.length ? `: ${results.violations.map((v) => `${v.id} (${v.impact})`).join(", ")}` : ""}`,
  });
  return summary;
}
