import { dollars, expect, goTo, logIn, person, row, showAuditLogOf, shownDay, stack, test, today, unique } from "./support";

// An admin changes a role (and is told plainly that the last admin stays one), closes the day,
// sees the payout in the audit log and reads the analytics.

test("an admin changes a role, is refused demoting the last admin, closes the day and reads the analytics", async ({ page, api }) => {
  const admin = await api.adminToken();
  const worker = await api.createAccount(admin, "worker", person("Petya Popugaev"));
  await api.onlyAssignable(admin, [worker]);
  const workerToken = await api.logIn(worker.email, worker.password);
  // Completed tasks until Petya has money to be paid (a reward can equal the fee: $20 each).
  const done: string[] = [];
  for (let i = 1; i <= 5 && (done.length === 0 || (await api.me(workerToken)).balance_cents <= 0); i += 1) {
    const task = await api.createTask(admin, unique("Polish the mirrors"), `POPUG-50${i}`);
    await api.complete(workerToken, task.id);
    done.push(task.id);
    await api.settled(workerToken, done, true);
  }
  const owed = (await api.me(workerToken)).balance_cents;
  expect(owed).toBeGreaterThan(0);
  const promoted = await api.createAccount(admin, "worker", person("Sasha Popugaeva"));
  const me = (await api.accounts(admin)).find((a) => a.email === stack.adminEmail);
  if (!me) throw new Error("the bootstrap admin is not listed");

  await logIn(page, { email: stack.adminEmail, password: stack.adminPassword });
  await goTo(page, "People");

  // The list pages oldest first: the search (names and emails, as one types) finds the newcomer.
  const search = page.getByRole("searchbox", { name: "Search by name or email" });
  await search.fill(promoted.fullName);
  const found = page.getByRole("table", { name: `Accounts matching “${promoted.fullName}”` });
  await expect(found.getByRole("row")).toHaveCount(2);
  await expect(found.getByRole("cell", { name: promoted.email, exact: true })).toBeVisible();

  // A role change.
  await page.getByLabel(`Role of ${promoted.fullName}`).selectOption("manager");
  await page.getByRole("button", { name: `Change role of ${promoted.fullName}` }).click();
  await expect(page.getByLabel(`Role of ${promoted.fullName}`)).toHaveValue("manager");
  await expect(page.getByRole("button", { name: `Change role of ${promoted.fullName}` })).toBeDisabled();
  await expect.poll(async () => (await api.accounts(admin)).find((a) => a.id === promoted.id)?.role).toBe("manager");

  // Back to every account, the bootstrap admin (the oldest) first.
  await search.fill("");
  await expect(page.getByRole("table", { name: "Every account", exact: true })).toBeVisible();

  // The only admin cannot demote themselves: the refusal is said in words, and nothing changed.
  await page.getByLabel(`Role of ${me.full_name}`).selectOption("worker");
  await page.getByRole("button", { name: `Change role of ${me.full_name}` }).click();
  await expect(page.getByRole("alert")).toHaveText("the last active admin cannot be demoted or deactivated");
  await expect(page.getByLabel(`Role of ${me.full_name}`)).toHaveValue("admin");

  // Closing the day pays every positive balance and carries the negative ones over.
  await goTo(page, "Accounting");
  const balances = await api.balances(admin);
  const positive = balances.filter((b) => b.balance_cents > 0);
  const negative = balances.filter((b) => b.balance_cents < 0).length;
  const paid = positive.reduce((sum, b) => sum + b.balance_cents, 0);
  const openCycle = (await api.billingCycles(admin)).find((c) => c.status === "open");
  if (!openCycle) throw new Error("no open billing cycle");
  await page.getByRole("button", { name: "Close the day…" }).click();
  const dialog = page.getByRole("dialog", { name: "Close the day now?" });
  await expect(dialog).toHaveAccessibleDescription("Positive balances are paid out and cannot be undone.");
  await dialog.getByRole("button", { name: "Close the day" }).click();
  const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  await expect(page.getByRole("status").filter({ hasText: "Closed the billing cycle" })).toHaveText(
    `Closed the billing cycle of ${await shownDay(page, openCycle.business_date)}: ${plural(positive.length, "payout", "payouts")} totalling ${dollars(paid)}; ${plural(negative, "negative balance", "negative balances")} carried over.`,
  );
  await expect(dialog).toBeHidden();

  // Petya was paid: the balance is back to zero and the payout is in Petya's audit log.
  await page.getByRole("searchbox", { name: "Search balances by name or email" }).fill(worker.fullName);
  await expect(row(page, /^Balances of accounts matching /, [worker.fullName, worker.email, "worker", "$0.00"])).toHaveCount(1);
  await showAuditLogOf(page, worker.fullName);
  const day = await shownDay(page, today());
  await expect(row(page, `${worker.fullName} on ${day}`, [undefined, "Payout", "—", `${dollars(-owed)} (debit)`])).toHaveCount(1);

  // Analytics agrees with accounting once it has heard every event.
  const earnedToday = async () => (await api.managementEarnings(admin, today(), today()))[0]?.earnings_cents;
  const earned = await earnedToday();
  if (earned === undefined) throw new Error("no earnings today");
  await expect.poll(async () => (await api.analyticsToday(admin)).management_earnings_cents).toBe(earned);
  await expect.poll(async () => (await api.mostExpensiveToday(admin)).task?.title ?? null).not.toBeNull();
  const analytics = await api.analyticsToday(admin);
  const top = (await api.mostExpensiveToday(admin)).task;
  if (!top) throw new Error("no task completed today");
  await goTo(page, "Analytics");
  const todayRegion = page.getByRole("region", { name: `Today, ${day}` });
  const money = (cents: number) => (cents < 0 ? `${dollars(cents)} (loss)` : dollars(cents));
  await expect(todayRegion.getByText("Management earnings", { exact: true }).locator("..")).toHaveText(
    `Management earnings${money(analytics.management_earnings_cents)}`,
  );
  await expect(todayRegion.getByText("Accounts with a negative balance", { exact: true }).locator("..")).toHaveText(
    `Accounts with a negative balance${analytics.negative_balance_accounts}`,
  );
  await expect(page.getByRole("region", { name: "Most expensive task", exact: true }).getByRole("paragraph")).toHaveText(
    `${day}: ${top.jira_id ? `${top.jira_id} ` : ""}${top.title ?? ""} — reward ${dollars(top.reward_cents)}`,
  );
  await expect(page.getByRole("img", { name: /^Highest reward per day, / })).toBeVisible();
});
