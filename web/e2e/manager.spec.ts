import { expect, goTo, logIn, person, row, test, unique } from "./support";

// A manager creates tasks (the server's refusal shows next to the field) and shuffles.

test("a manager creates tasks, sees a server validation error at the field, and shuffles", async ({ page, api }) => {
  const admin = await api.adminToken();
  const manager = await api.createAccount(admin, "manager", person("Mila Managerova"));
  const worker = await api.createAccount(admin, "worker", person("Tosha Popugaev"));
  await api.onlyAssignable(admin, [worker]);

  await logIn(page, manager);
  await goTo(page, "Tasks");
  const titleField = page.getByLabel("Title");

  // tasks-api refuses a Jira id in the title; the message sits under Title, tied to it
  // (a screen reader hears "Error:", which the style sheet puts before it).
  await titleField.fill("[POPUG-7] Feed the parrots");
  await page.getByRole("button", { name: "Create task" }).click();
  const message = "must not contain '[' or ']': put the Jira id (like POPUG-123) in the jira_id field instead";
  await expect(page.getByText(message, { exact: true })).toBeVisible();
  await expect(titleField).toHaveAttribute("aria-invalid", "true");
  await expect(titleField).toHaveAccessibleDescription(`No [ or ]: put the Jira id in its own field. Error: ${message}`);

  const titles = [unique("Feed the parrots"), unique("Sweep the perches")];
  for (const [index, title] of titles.entries()) {
    await titleField.fill(title);
    await page.getByLabel("Jira id (optional)").fill(`POPUG-${7 + index}`);
    await page.getByLabel("Description").fill("Before the morning standup.");
    await page.getByRole("button", { name: "Create task" }).click();
    await expect(page.getByRole("status").filter({ hasText: "Created" })).toHaveText(`Created “${title}”; it went to a randomly drawn assignee.`);
    await expect(titleField).toHaveValue("");
    await expect(titleField).not.toHaveAttribute("aria-invalid");
  }
  for (const [index, title] of titles.entries()) {
    await expect(
      row(page, "Tasks, newest first", [`POPUG-${7 + index} ${title} Before the morning standup.`, "Open", worker.fullName]),
    ).toHaveCount(1);
  }

  // Shuffle asks first, then says how many open tasks (everyone's) got a new assignee.
  const open = await api.openTaskCount(admin);
  expect(open).toBeGreaterThanOrEqual(2);
  await page.getByRole("button", { name: "Shuffle open tasks" }).click();
  const dialog = page.getByRole("dialog", { name: "Shuffle every open task?" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await dialog.getByRole("button", { name: "Shuffle", exact: true }).click();
  await expect(page.getByText(/^Shuffled: /)).toHaveText(`Shuffled: ${open} open tasks reassigned.`);
  await expect(dialog).toBeHidden();
  // The worker is the only one who can take tasks: the draw gave them back.
  for (const [index, title] of titles.entries()) {
    await expect(
      row(page, "Tasks, newest first", [`POPUG-${7 + index} ${title} Before the morning standup.`, "Open", worker.fullName]),
    ).toHaveCount(1);
  }
});
