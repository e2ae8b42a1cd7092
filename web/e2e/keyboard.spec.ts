import { expect, person, test, unique } from "./support";

// Someone without a mouse logs in and completes a task: Tab, typing and Enter only.

test("keyboard only: log in and complete a task", async ({ page, api }) => {
  const admin = await api.adminToken();
  const worker = await api.createAccount(admin, "worker", person("Kiwi Popugaeva"));
  await api.onlyAssignable(admin, [worker]);
  const title = unique("Oil the cage door");
  await api.createTask(admin, title);

  await page.goto("/");
  await expect(page.getByRole("heading", { level: 1, name: "Log in to aTES" })).toBeVisible();
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Email", { exact: true })).toBeFocused();
  await page.keyboard.type(worker.email);
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Password", { exact: true })).toBeFocused();
  await page.keyboard.type(worker.password);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1, name: "My tasks" })).toBeVisible();
  const complete = page.getByRole("button", { name: `Complete “${title}”` });
  await expect(complete).toBeVisible();

  // The skip link leads past the navigation; the first stop in the content is the task's button.
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("main")).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(complete).toBeFocused();
  await page.keyboard.press("Enter");

  await expect(page.getByRole("table", { name: "My done tasks" }).getByRole("cell", { name: title, exact: true })).toBeVisible();
  await expect(page.getByText("My open tasks: no open tasks.", { exact: true })).toBeVisible();
});
