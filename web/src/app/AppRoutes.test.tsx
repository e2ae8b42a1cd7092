import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { json, renderApp } from "../test/fakes";
import { AppRoutes } from "./AppRoutes";

describe("routing and navigation", () => {
  it("renders Not allowed for a direct URL to a forbidden screen, and hides its menu entry", async () => {
    renderApp(<AppRoutes />, { role: "worker", path: "/accounting" });
    expect(await screen.findByRole("heading", { name: "Not allowed" })).toBeInTheDocument();
    const nav = screen.getByRole("navigation", { name: "Main" });
    expect(nav).toHaveTextContent("My tasks");
    expect(nav).not.toHaveTextContent("Accounting");
    expect(nav).not.toHaveTextContent("People");
  });

  it("shows an admin every screen in the navigation", async () => {
    renderApp(<AppRoutes />, {
      role: "admin",
      path: "/people",
      routes: { "GET /api/auth/v1/accounts": () => json({ items: [], next_cursor: null }) },
    });
    expect(await screen.findByRole("heading", { name: "People" })).toBeInTheDocument();
    const nav = screen.getByRole("navigation", { name: "Main" });
    for (const label of ["My tasks", "Tasks", "My money", "Accounting", "Analytics", "People"]) {
      expect(nav).toHaveTextContent(label);
    }
  });

  it("sends a logged-out visitor to log-in", async () => {
    renderApp(<AppRoutes />, { path: "/tasks" });
    expect(await screen.findByRole("heading", { name: "Log in to aTES" })).toBeInTheDocument();
    expect(screen.getByText("Please log in first.")).toBeInTheDocument();
  });
});

describe("log-out", () => {
  it("says so on the log-in page", async () => {
    const user = userEvent.setup();
    renderApp(<AppRoutes />, { role: "worker", path: "/my-money", routes: {} });
    await user.click(await screen.findByRole("button", { name: "Log out" }));
    expect(await screen.findByRole("heading", { name: "Log in to aTES" })).toBeInTheDocument();
    expect(screen.getByText("You are logged out.")).toBeInTheDocument();
  });
});
