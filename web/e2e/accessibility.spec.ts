import type { Locator, Page } from "@playwright/test";
import { Api, axe, expect, logIn, person, stack, test, unique, type AxeSummary, type User } from "./support";

// axe on every screen of the app, as the role that may use it sees it (with data, dialogs
// open where a screen has one), plus the screens before log-in and the refusals: no serious
// or critical violation anywhere.

interface Screen {
  name: string;
  path: string;
  // What shows once the screen has its data.
  ready: (page: Page) => Locator;
  // Something to open on the screen before checking it again (a dialog).
  then?: { name: string; open: (page: Page) => Promise<void> };
}

const heading = (page: Page, name: string) => page.getByRole("heading", { level: 1, name });

async function check(page: Page, screen: Screen, found: AxeSummary[]): Promise<void> {
  await page.goto(screen.path);
  await expect(screen.ready(page)).toBeVisible();
  found.push(await axe(page, screen.name));
  if (screen.then) {
    await screen.then.open(page);
    found.push(await axe(page, `${screen.name}, ${screen.then.name}`));
    await page.keyboard.press("Escape");
  }
}

function expectNoneSerious(found: AxeSummary[]): void {
  const serious = found.filter((summary) => summary.violations.length > 0);
  console.log(
    `axe: ${found.map((s) => s.screen).join("; ")}: ${found.length} screens checked (${found.map((s) => s.passes).join("/")} rules passed), ${found.reduce((n, s) => n + s.all, 0)} violations of any impact, ${serious.reduce((n, s) => n + s.violations.length, 0)} serious or critical`,
  );
  expect(serious).toEqual([]);
}

test("the screens before log-in have no serious accessibility violations", async ({ page }) => {
  const found: AxeSummary[] = [];
  const screens: Screen[] = [
    { name: "log-in", path: "/", ready: (p) => heading(p, "Log in to aTES") },
    { name: "sign-up", path: "/sign-up", ready: (p) => heading(p, "Sign up") },
    { name: "change password (logged out)", path: "/password", ready: (p) => heading(p, "Change password") },
    { name: "page not found", path: "/no-such-screen", ready: (p) => heading(p, "Page not found") },
  ];
  for (const screen of screens) await check(page, screen, found);

  // A failed log-in: the error is shown and announced.
  await page.goto("/");
  await page.getByLabel("Email", { exact: true }).fill(`${unique("nobody")}@popug.inc`);
  await page.getByLabel("Password", { exact: true }).fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  found.push(await axe(page, "log-in, refused"));
  expectNoneSerious(found);
});

test.describe("every screen of every role", () => {
  const users = new Map<string, Pick<User, "email" | "password">>();

  // The data every screen shows something of: a done and an open task of a worker, and one
  // account of each role.
  test.beforeAll(async () => {
    const api = await Api.open();
    try {
      const admin = await api.adminToken();
      const worker = await api.createAccount(admin, "worker", person("Chika Popugaeva"));
      await api.onlyAssignable(admin, [worker]);
      const workerToken = await api.logIn(worker.email, worker.password);
      const done = await api.createTask(admin, unique("Wash the water bowls"), "POPUG-401", "Every bowl, twice.");
      await api.complete(workerToken, done.id);
      const open = await api.createTask(admin, unique("Trim the ladder"), "POPUG-402");
      await api.settled(workerToken, [done.id, open.id], false);
      users.set("worker", worker);
      users.set("manager", await api.createAccount(admin, "manager", person("Vova Managerov")));
      users.set("accountant", await api.createAccount(admin, "accountant", person("Nina Schetova")));
      users.set("admin", { email: stack.adminEmail, password: stack.adminPassword });
    } finally {
      await api.close();
    }
  });

  const myTasks: Screen = {
    name: "my tasks",
    path: "/my-tasks",
    // Both lists loaded (a manager's may be empty): two tables or "none" lines.
    ready: (p) =>
      p
        .getByRole("table", { name: /^My (open|done) tasks$/ })
        .or(p.getByText(/^My (open|done) tasks: /))
        .nth(1),
  };
  const tasks: Screen = { name: "tasks", path: "/tasks", ready: (p) => p.getByRole("table", { name: "Tasks, newest first" }) };
  const myMoney: Screen = { name: "my money", path: "/my-money", ready: (p) => p.getByText("Balance now", { exact: true }) };
  const password: Screen = { name: "change password", path: "/password", ready: (p) => heading(p, "Change password") };
  const notAllowed = (path: string): Screen => ({ name: `not allowed (${path})`, path, ready: (p) => heading(p, "Not allowed") });
  const accounting: Screen = {
    name: "accounting",
    path: "/accounting",
    ready: (p) => p.getByRole("img", { name: /^Management earnings per day, / }),
  };

  const roles: [string, Screen[]][] = [
    ["worker", [myTasks, tasks, myMoney, password, notAllowed("/accounting"), notAllowed("/analytics"), notAllowed("/people")]],
    [
      "manager",
      [
        myTasks,
        {
          ...tasks,
          then: {
            name: "shuffle confirmation",
            open: async (p) => {
              await p.getByRole("button", { name: "Shuffle open tasks" }).click();
              await expect(p.getByRole("dialog", { name: "Shuffle every open task?" })).toBeVisible();
            },
          },
        },
        myMoney,
        notAllowed("/accounting"),
      ],
    ],
    ["accountant", [accounting, myTasks, myMoney, notAllowed("/analytics")]],
    [
      "admin",
      [
        {
          ...accounting,
          then: {
            name: "close-the-day confirmation",
            open: async (p) => {
              await p.getByRole("button", { name: "Close the day…" }).click();
              await expect(p.getByRole("dialog", { name: "Close the day now?" })).toBeVisible();
            },
          },
        },
        { name: "analytics", path: "/analytics", ready: (p) => p.getByRole("img", { name: /^Highest reward per day, / }) },
        { name: "people", path: "/people", ready: (p) => p.getByRole("table", { name: "Every account" }) },
        tasks,
      ],
    ],
  ];

  for (const [role, screens] of roles) {
    test(`as ${role}: no serious accessibility violations`, async ({ page }) => {
      const user = users.get(role);
      if (!user) throw new Error(`no ${role} was arranged`);
      await logIn(page, user);
      const found: AxeSummary[] = [];
      for (const screen of screens) await check(page, { ...screen, name: `${screen.name} (${role})` }, found);
      expectNoneSerious(found);
    });
  }
});
