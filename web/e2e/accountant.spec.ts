import { dollars, expect, goTo, logIn, person, row, showAuditLogOf, shownDay, test, today, unique } from "./support";

// An accountant reads every balance, an account's audit log and the management earnings chart.

test("an accountant reads the balances, an audit log and the earnings chart", async ({ page, api }) => {
  const admin = await api.adminToken();
  const worker = await api.createAccount(admin, "worker", person("Zhora Popugaev"));
  await api.onlyAssignable(admin, [worker]);
  const title = unique("Count the feathers");
  const task = await api.createTask(admin, title, "POPUG-303");
  const workerToken = await api.logIn(worker.email, worker.password);
  await api.complete(workerToken, task.id);
  const transactions = await api.settled(workerToken, [task.id], true);
  const reward = transactions.find((t) => t.kind === "task_reward");
  if (!reward) throw new Error("no reward");
  // Made after the task, so the task could only go to the worker.
  const accountant = await api.createAccount(admin, "accountant", person("Lora Schetova"));
  const accountantToken = await api.logIn(accountant.email, accountant.password);
  const balance = (await api.balances(accountantToken)).find((b) => b.account_id === worker.id);
  if (!balance) throw new Error("accounting does not know the worker");

  await logIn(page, accountant);
  await goTo(page, "Accounting");
  await expect(page.getByRole("table", { name: "Every account's balance" })).toBeVisible();
  // Balances page in the order the accounts were made: the search (names and emails) finds the
  // newest ones, whatever page they are on.
  const search = page.getByRole("searchbox", { name: "Search balances by name or email" });
  await search.fill(worker.email);
  const found = `Balances of accounts matching “${worker.email}”`;
  await expect(page.getByRole("table", { name: found }).getByRole("row")).toHaveCount(2);
  await expect(row(page, found, [worker.fullName, worker.email, "worker", dollars(balance.balance_cents)])).toHaveCount(1);
  await search.fill(accountant.fullName);
  await expect(row(page, /^Balances of accounts matching /, [accountant.fullName, accountant.email, "accountant", "$0.00"])).toHaveCount(1);

  // The audit log of the worker's day.
  await showAuditLogOf(page, worker.fullName);
  const day = await shownDay(page, today());
  await expect(row(page, `${worker.fullName} on ${day}`, [undefined, "Task reward", `POPUG-303 ${title}`, dollars(reward.amount_cents)])).toHaveCount(1);
  await expect(page.getByRole("table", { name: `${worker.fullName} on ${day}` }).getByRole("row")).toHaveCount(3);

  // The last 14 days of management earnings: a chart and the same numbers in a table.
  const from = new Date(Date.now() - 13 * 86_400_000).toISOString().slice(0, 10);
  const earnings = await api.managementEarnings(accountantToken, from, today());
  expect(earnings).toHaveLength(14);
  const chart = page.getByRole("img", { name: `Management earnings per day, ${await shownDay(page, from)} to ${day}` });
  await expect(chart).toBeVisible();
  const table = page.getByRole("table", { name: "Management earnings by day" });
  await expect(table.getByRole("row")).toHaveCount(15);
  const todays = earnings.at(-1);
  if (!todays) throw new Error("no earnings today");
  const amount = todays.earnings_cents < 0 ? `${dollars(todays.earnings_cents)} (loss)` : dollars(todays.earnings_cents);
  await expect(row(page, "Management earnings by day", [day, amount])).toHaveCount(1);

  // Closing the day is the admin's.
  await expect(page.getByRole("heading", { level: 2 })).toHaveText(["Balances", "Audit log", "Management earnings", "Billing cycles"]);
});
