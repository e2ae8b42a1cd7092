import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { components } from "../../../lib/api/auth";
import { pagedList, queriesTo, renderApp } from "../../../test/fakes";
import { PeoplePage } from "./PeoplePage";

type Account = components["schemas"]["Account"];

function account(n: number, fullName: string): Account {
  return {
    id: `00000000-0000-7000-8000-${String(n).padStart(12, "0")}`,
    email: `${fullName.split(" ")[0]?.toLowerCase()}@popug.inc`,
    full_name: fullName,
    role: "worker",
    active: true,
    must_change_password: false,
    created_at: "2026-03-03T10:00:00Z",
    updated_at: "2026-03-03T10:00:00Z",
  };
}

const path = "/api/auth/v1/accounts";

describe("<PeoplePage>", () => {
  it("loads more accounts, and the button goes once the last page is in", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<PeoplePage />, {
      role: "admin",
      routes: { [`GET ${path}`]: pagedList([[account(2, "Kesha Popugaev")], [account(3, "Rio Popugaeva")]]) },
    });
    const table = await screen.findByRole("table", { name: "Every account" });
    expect(within(table).queryByRole("cell", { name: "Rio Popugaeva" })).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Load more accounts" }));
    expect(await within(table).findByRole("cell", { name: "Rio Popugaeva" })).toBeInTheDocument();
    expect(within(table).getByRole("cell", { name: "Kesha Popugaev" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more accounts" })).not.toBeInTheDocument();
    expect(queriesTo(server.calls, path)).toEqual([{}, { cursor: "page-1" }]);
  });

  it("searches with q from the first page, and leaves q out when the box is blank", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<PeoplePage />, {
      role: "admin",
      routes: {
        [`GET ${path}`]: (request) =>
          new URL(request.url).searchParams.get("q") === "rio"
            ? pagedList([[account(3, "Rio Popugaeva")]])(request)
            : pagedList([[account(2, "Kesha Popugaev")], [account(3, "Rio Popugaeva")]])(request),
      },
    });
    await user.click(await screen.findByRole("button", { name: "Load more accounts" }));
    expect(await screen.findByRole("cell", { name: "Rio Popugaeva" })).toBeInTheDocument();

    // Blanks are no search: nothing new is asked.
    const box = screen.getByRole("searchbox", { name: "Search by name or email" });
    await user.type(box, "   ");
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(queriesTo(server.calls, path)).toEqual([{}, { cursor: "page-1" }]);

    await user.type(box, "rio ");
    const found = await screen.findByRole("table", { name: "Accounts matching “rio”" });
    await waitFor(() => expect(within(found).queryByRole("cell", { name: "Kesha Popugaev" })).not.toBeInTheDocument());
    expect(within(found).getByRole("cell", { name: "Rio Popugaeva" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more accounts" })).not.toBeInTheDocument();

    // Cleared: the whole list again, from its first page only.
    await user.clear(box);
    const all = await screen.findByRole("table", { name: "Every account" });
    expect(await within(all).findByRole("cell", { name: "Kesha Popugaev" })).toBeInTheDocument();
    expect(within(all).queryByRole("cell", { name: "Rio Popugaeva" })).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Load more accounts" })).toBeInTheDocument();
    await waitFor(() => expect(queriesTo(server.calls, path).at(-1)).toEqual({}));
    // The search started from the first page (no cursor), trimmed.
    expect(queriesTo(server.calls, path).slice(0, 3)).toEqual([{}, { cursor: "page-1" }, { q: "rio" }]);
    expect(queriesTo(server.calls, path).every((query) => query.q === undefined || query.q === "rio")).toBe(true);
  });

  it("searches at once on Enter", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<PeoplePage />, {
      role: "admin",
      routes: { [`GET ${path}`]: pagedList([[account(2, "Kesha Popugaev")]]) },
    });
    await screen.findByRole("table", { name: "Every account" });
    await user.type(screen.getByRole("searchbox", { name: "Search by name or email" }), "kesha{Enter}");
    expect(queriesTo(server.calls, path).at(-1)).toEqual({ q: "kesha" });
  });
});
