import path from "node:path";
import type { Page } from "@playwright/test";
import { expect, goTo, logIn, logOut, stack, test, type Api, type User } from "./support";

// The README's pictures of the main screens (`make screenshots`, E2E_SCREENSHOTS=1): a small,
// believable day on a fresh stack, photographed as each role sees it.

const folder = path.resolve(import.meta.dirname, "../../docs/screenshots");

async function shoot(page: Page, name: string): Promise<void> {
  // Nothing still loading in the picture.
  await expect(page.getByRole("status").filter({ hasText: /…$/ })).toHaveCount(0);
  await page.screenshot({ path: path.join(folder, `${name}.png`), fullPage: true, animations: "disabled" });
}

async function tasksFor(api: Api, admin: string, worker: User, titles: [string, string | null, string][], completed: number) {
  const token = await api.logIn(worker.email, worker.password);
  const ids: string[] = [];
  for (const [title, jira, description] of titles) ids.push((await api.createTask(admin, title, jira, description)).id);
  for (const id of ids.slice(0, completed)) await api.complete(token, id);
  await api.settled(token, ids, false);
}

test("screenshots of the main screens", async ({ page, api }) => {
  test.setTimeout(120_000);
  const admin = await api.adminToken();
  const kesha = await api.createAccount(admin, "worker", "Kesha Popugaev", "kesha@popug.inc");
  const rio = await api.createAccount(admin, "worker", "Rio Popugaeva", "rio@popug.inc");
  const mila = await api.createAccount(admin, "manager", "Mila Managerova", "mila@popug.inc");

  await api.onlyAssignable(admin, [rio]);
  await tasksFor(
    api,
    admin,
    rio,
    [
      ["Tune the feather dryer", "POPUG-12", "It hums at night."],
      ["Write the perch safety memo", null, ""],
      ["Restock the millet", "POPUG-15", ""],
    ],
    2,
  );
  await api.onlyAssignable(admin, [kesha]);
  await tasksFor(
    api,
    admin,
    kesha,
    [
      ["Fix the perch in room 3", "POPUG-21", "The left screw is loose."],
      ["Refill the seed dispensers", "POPUG-22", ""],
      ["Oil the cage doors", null, "All of them on floor 2."],
      ["Sort the mail tray", "POPUG-24", ""],
      ["Measure the nest temperature", "POPUG-25", "Morning and evening."],
    ],
    3,
  );
  await api.setActive(admin, rio.id, true);
  const lora = await api.createAccount(admin, "accountant", "Lora Schetova", "lora@popug.inc");

  // Log-in.
  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1, name: "Log in to aTES" })).toBeVisible();
  await shoot(page, "login");

  // A worker's own tasks and money.
  await logIn(page, kesha);
  await expect(page.getByRole("table", { name: "My done tasks" })).toBeVisible();
  await shoot(page, "my-tasks");
  await goTo(page, "My money");
  await expect(page.getByRole("table", { name: /^My transactions on / })).toBeVisible();
  await shoot(page, "my-money");
  await logOut(page);

  // A manager's list of every task, with shuffle and the form.
  await logIn(page, mila);
  await goTo(page, "Tasks");
  await expect(page.getByRole("table", { name: "Tasks, newest first" }).getByRole("cell", { name: "Rio Popugaeva" }).first()).toBeVisible();
  await shoot(page, "tasks");
  await logOut(page);

  // The accountant's balances, an audit log and the earnings chart.
  await logIn(page, lora);
  await goTo(page, "Accounting");
  await page.getByLabel("Account", { exact: true }).selectOption({ label: "Kesha Popugaev" });
  await expect(page.getByRole("table", { name: /^Kesha Popugaev on / })).toBeVisible();
  await expect(page.getByRole("img", { name: /^Management earnings per day, / })).toBeVisible();
  await shoot(page, "accounting");
  await logOut(page);

  // The admin's analytics and people.
  await logIn(page, { email: stack.adminEmail, password: stack.adminPassword });
  await goTo(page, "Analytics");
  const top = page.getByRole("region", { name: "Most expensive task", exact: true });
  await expect(top).toContainText(" — reward ");
  await expect(top).not.toContainText("title not known yet");
  await shoot(page, "analytics");
  await goTo(page, "People");
  await expect(page.getByRole("table", { name: "Every account" })).toBeVisible();
  await shoot(page, "people");
});
