import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { components } from "../../../lib/api/accounting";
import { json, pagedList, queriesTo, renderApp } from "../../../test/fakes";
import { MyMoneyPage } from "./MyMoneyPage";

type Transaction = components["schemas"]["Transaction"];

const id = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, "0")}`;

function transaction(n: number, title: string): Transaction {
  return {
    id: id(200 + n),
    account_id: id(1),
    billing_cycle_id: id(101),
    kind: "assignment_fee",
    amount_cents: -1500,
    created_at: "2026-03-03T10:00:00Z",
    task: { id: id(300 + n), title, jira_id: "POPUG-1" },
  };
}

describe("<MyMoneyPage>", () => {
  it("loads more of the day's transactions, and the button goes once the last page is in", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<MyMoneyPage />, {
      role: "worker",
      routes: {
        "GET /api/accounting/v1/me": () =>
          json({ account_id: id(1), balance_cents: -3000, today: { date: "2026-03-03", rewards_cents: 0, fees_cents: -3000, payouts_cents: 0 } }),
        "GET /api/accounting/v1/me/transactions": pagedList([[transaction(1, "Fix the nest")], [transaction(2, "Sweep the perch")]]),
      },
    });
    const table = await screen.findByRole("table", { name: /^My transactions on / });
    expect(within(table).getAllByRole("row")).toHaveLength(2);
    await user.click(screen.getByRole("button", { name: "Load more transactions" }));
    expect(await within(table).findByRole("cell", { name: "POPUG-1 Sweep the perch" })).toBeInTheDocument();
    expect(within(table).getByRole("cell", { name: "POPUG-1 Fix the nest" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more transactions" })).not.toBeInTheDocument();
    const queries = queriesTo(server.calls, "/api/accounting/v1/me/transactions");
    expect(queries.map((query) => query.cursor)).toEqual([undefined, "page-1"]);
    expect(queries[1]?.date).toBe(queries[0]?.date);
  });
});
