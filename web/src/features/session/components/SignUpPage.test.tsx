import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import { describe, expect, it, vi } from "vitest";
import { fakeSessionEndpoints, grantFor, json, renderApp } from "../../../test/fakes";
import { SignUpPage } from "./SignUpPage";

const pages = (
  <Routes>
    <Route path="/sign-up" element={<SignUpPage />} />
    <Route path="/my-tasks" element={<h1>My tasks</h1>} />
  </Routes>
);

describe("<SignUpPage>", () => {
  it("shows the server's field messages and keeps the Idempotency-Key for a retry of the same form", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(pages, {
      path: "/sign-up",
      routes: {
        "POST /api/auth/v1/accounts": () =>
          json(
            {
              type: "https://ates.popug.inc/problems/validation",
              title: "Validation failed",
              status: 422,
              detail: "the request has invalid fields",
              errors: [{ field: "password", message: "must be 10 to 128 characters" }],
            },
            422,
          ),
      },
    });
    await user.type(screen.getByLabelText("Full name"), "Kesha Popugaev");
    await user.type(screen.getByLabelText("Email"), "kesha@popug.inc");
    await user.type(screen.getByLabelText("Password"), "short");
    await user.click(screen.getByRole("button", { name: "Sign up" }));
    expect(await screen.findByText("must be 10 to 128 characters")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Sign up" }));
    await screen.findByText("must be 10 to 128 characters");
    const keys = server.calls.map((r) => r.headers.get("Idempotency-Key"));
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
  });

  it("signs up, then logs in with the same credentials", async () => {
    const user = userEvent.setup();
    const login = vi.fn(async () => grantFor("worker"));
    const { session } = renderApp(pages, {
      path: "/sign-up",
      endpoints: fakeSessionEndpoints({ login }),
      routes: { "POST /api/auth/v1/accounts": () => json({ id: "x" }, 201) },
    });
    await user.type(screen.getByLabelText("Full name"), "Kesha Popugaev");
    await user.type(screen.getByLabelText("Email"), "kesha@popug.inc");
    await user.type(screen.getByLabelText("Password"), "correct horse battery");
    await user.click(screen.getByRole("button", { name: "Sign up" }));
    expect(await screen.findByRole("heading", { name: "My tasks" })).toBeInTheDocument();
    expect(login).toHaveBeenCalledWith({ email: "kesha@popug.inc", password: "correct horse battery" });
    session.dispose();
  });
});
