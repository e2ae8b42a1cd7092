import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { components } from "../../../lib/api/accounting";
import { cursorPage, json, pagedList, queriesTo, renderApp } from "../../../test/fakes";
import { AuditLogSection } from "./AuditLogSection";
import { BalancesSection } from "./BalancesSection";
import { BillingCyclesSection } from "./BillingCyclesSection";

type AccountBalance = components["schemas"]["AccountBalance"];
type BillingCycle = components["schemas"]["BillingCycle"];
type Transaction = components["schemas"]["Transaction"];

const id = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, "0")}`;

function balance(n: number, fullName: string, cents = 0): AccountBalance {
  const email = `${fullName.split(" ")[0]?.toLowerCase()}@popug.inc`;
  return { account_id: id(n), full_name: fullName, email, role: "worker", balance_cents: cents };
}

function cycle(day: number): BillingCycle {
  const date = `2026-03-${String(day).padStart(2, "0")}`;
  return {
    id: id(100 + day),
    business_date: date,
    status: "closed",
    opened_at: `${date}T00:00:00Z`,
    closed_at: `${date}T23:00:00Z`,
    payments_count: 1,
    payments_total_cents: 1000,
  };
}

function transaction(n: number, title: string): Transaction {
  return {
    id: id(200 + n),
    account_id: id(3),
    billing_cycle_id: id(101),
    kind: "task_reward",
    amount_cents: 2000,
    created_at: "2026-03-03T10:00:00Z",
    task: { id: id(300 + n), title, jira_id: null },
  };
}

const balances = "/api/accounting/v1/accounts";

describe("<BalancesSection>", () => {
  it("loads more balances, and the button goes once the last page is in", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<BalancesSection />, {
      role: "accountant",
      routes: { [`GET ${balances}`]: pagedList([[balance(2, "Kesha Popugaev", 1500)], [balance(3, "Rio Popugaeva", -500)]]) },
    });
    const table = await screen.findByRole("table", { name: "Every account's balance" });
    await user.click(screen.getByRole("button", { name: "Load more balances" }));
    expect(await within(table).findByRole("cell", { name: "Rio Popugaeva" })).toBeInTheDocument();
    expect(within(table).getByRole("cell", { name: "Kesha Popugaev" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more balances" })).not.toBeInTheDocument();
    expect(queriesTo(server.calls, balances)).toEqual([{}, { cursor: "page-1" }]);
  });

  it("searches emails and names with q, from the first page, and leaves q out when blank", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<BalancesSection />, {
      role: "admin",
      routes: {
        [`GET ${balances}`]: (request) =>
          new URL(request.url).searchParams.has("q")
            ? json(cursorPage([balance(3, "Rio Popugaeva")]))
            : pagedList([[balance(2, "Kesha Popugaev")], [balance(3, "Rio Popugaeva")]])(request),
      },
    });
    await user.click(await screen.findByRole("button", { name: "Load more balances" }));
    await screen.findByRole("cell", { name: "Rio Popugaeva" });

    const box = screen.getByRole("searchbox", { name: "Search balances by name or email" });
    await user.type(box, "rio@");
    const found = await screen.findByRole("table", { name: "Balances of accounts matching “rio@”" });
    await waitFor(() => expect(within(found).queryByRole("cell", { name: "Kesha Popugaev" })).not.toBeInTheDocument());
    expect(within(found).getByRole("cell", { name: "Rio Popugaeva" })).toBeInTheDocument();
    expect(queriesTo(server.calls, balances).at(-1)).toEqual({ q: "rio@" });

    await user.clear(box);
    await user.type(box, "  ");
    const all = await screen.findByRole("table", { name: "Every account's balance" });
    await waitFor(() => expect(queriesTo(server.calls, balances).at(-1)).toEqual({}));
    expect(within(all).queryByRole("cell", { name: "Rio Popugaeva" })).not.toBeInTheDocument();
    expect(queriesTo(server.calls, balances).filter((query) => "q" in query)).toEqual([{ q: "rio@" }]);
  });
});

describe("<AuditLogSection>", () => {
  it("finds an account to choose by search, and loads more of its day", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<AuditLogSection />, {
      role: "accountant",
      routes: {
        [`GET ${balances}`]: (request) =>
          new URL(request.url).searchParams.get("q") === "rio"
            ? json(cursorPage([balance(3, "Rio Popugaeva")]))
            : json(cursorPage([balance(2, "Kesha Popugaev")], "more")),
        [`GET ${balances}/${id(3)}/transactions`]: pagedList([[transaction(1, "Fix the nest")], [transaction(2, "Sweep the perch")]]),
      },
    });
    const select = screen.getByRole("combobox", { name: "Account" });
    expect(await within(select).findByRole("option", { name: "Kesha Popugaev" })).toBeInTheDocument();
    expect(select).toHaveAccessibleDescription(/^Only the first 1 accounts are listed: type part of a name or an email/);

    await user.type(screen.getByRole("searchbox", { name: "Find an account" }), "rio");
    await user.selectOptions(select, await within(select).findByRole("option", { name: "Rio Popugaeva" }));
    const table = await screen.findByRole("table", { name: /^Rio Popugaeva on / });
    expect(within(table).queryByRole("cell", { name: "Sweep the perch" })).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load more transactions" }));
    expect(await within(table).findByRole("cell", { name: "Sweep the perch" })).toBeInTheDocument();
    expect(within(table).getByRole("cell", { name: "Fix the nest" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more transactions" })).not.toBeInTheDocument();

    // A search that leaves the chosen account out keeps it chosen.
    await user.clear(screen.getByRole("searchbox", { name: "Find an account" }));
    await waitFor(() => expect(within(select).getByRole("option", { name: "Kesha Popugaev" })).toBeInTheDocument());
    expect(select).toHaveValue(id(3));

    expect(queriesTo(server.calls, balances)).toEqual([{ per_page: "100" }, { q: "rio", per_page: "100" }, { per_page: "100" }]);
    const day = queriesTo(server.calls, `${balances}/${id(3)}/transactions`);
    expect(day.map((query) => query.cursor)).toEqual([undefined, "page-1"]);
    expect(new Set(day.map((query) => query.date)).size).toBe(1);
  });
});

describe("<BillingCyclesSection>", () => {
  it("loads more cycles, newest first, until the last page", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<BillingCyclesSection />, {
      role: "admin",
      routes: { "GET /api/accounting/v1/billing-cycles": pagedList([[cycle(3), cycle(2)], [cycle(1)]]) },
    });
    const table = await screen.findByRole("table", { name: "Billing cycles, newest first" });
    expect(within(table).getAllByRole("row")).toHaveLength(3);
    await user.click(screen.getByRole("button", { name: "Load more billing cycles" }));
    await waitFor(() => expect(within(table).getAllByRole("row")).toHaveLength(4));
    expect(screen.queryByRole("button", { name: "Load more billing cycles" })).not.toBeInTheDocument();
    expect(queriesTo(server.calls, "/api/accounting/v1/billing-cycles")).toEqual([{}, { cursor: "page-1" }]);
  });
});
