import { act, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../../lib/problem";
import { fakeSessionEndpoints, renderApp } from "../../../test/fakes";
import { ChangePasswordPage } from "./ChangePasswordPage";
import { LoginPage } from "./LoginPage";

const pages = (
  <Routes>
    <Route path="/" element={<LoginPage />} />
    <Route path="/password" element={<ChangePasswordPage />} />
    <Route path="/my-tasks" element={<h1>My tasks</h1>} />
  </Routes>
);

describe("<LoginPage>", () => {
  it("logs in and goes to my tasks", async () => {
    const user = userEvent.setup();
    const { session } = renderApp(pages);
    await user.type(screen.getByLabelText("Email"), "kesha@popug.inc");
    await user.type(screen.getByLabelText("Password"), "correct horse battery");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("heading", { name: "My tasks" })).toBeInTheDocument();
    expect(session.getState().status).toBe("authenticated");
    session.dispose();
  });

  it("shows the bad-credentials problem as text", async () => {
    const user = userEvent.setup();
    const endpoints = fakeSessionEndpoints({
      login: async () => {
        throw new ApiError(401, { type: "https://ates.popug.inc/problems/unauthorized", title: "Unauthorized", status: 401, detail: "email or password is wrong" });
      },
    });
    renderApp(pages, { endpoints });
    await user.type(screen.getByLabelText("Email"), "kesha@popug.inc");
    await user.type(screen.getByLabelText("Password"), "nope");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("email or password is wrong");
  });

  it("sends a temporary password to the change-password form with the email filled in", async () => {
    const user = userEvent.setup();
    const endpoints = fakeSessionEndpoints({
      login: async () => {
        throw new ApiError(403, {
          type: "https://ates.popug.inc/problems/password-change-required",
          title: "Password change required",
          status: 403,
          detail: "the password is temporary",
        });
      },
    });
    renderApp(pages, { endpoints });
    await user.type(screen.getByLabelText("Email"), "kesha@popug.inc");
    await user.type(screen.getByLabelText("Password"), "q8V1nB2kX0pL7sT4wY9z");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("heading", { name: "Change password" })).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveValue("kesha@popug.inc");
    expect(screen.getByLabelText("Temporary password")).toBeInTheDocument();
  });

  it("shows server field errors next to their fields", async () => {
    const user = userEvent.setup();
    const endpoints = fakeSessionEndpoints({
      login: async () => {
        throw new ApiError(422, {
          type: "https://ates.popug.inc/problems/validation",
          title: "Validation failed",
          status: 422,
          detail: "the request has invalid fields",
          errors: [{ field: "email", message: "must not contain control characters" }],
        });
      },
    });
    renderApp(pages, { endpoints });
    await user.type(screen.getByLabelText("Email"), "x");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByText("must not contain control characters")).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveAccessibleDescription("must not contain control characters");
  });

  it("shows why the session ended", async () => {
    const { session } = renderApp(pages);
    act(() => session.end("Your session ended, please log in again"));
    expect(await screen.findByText("Your session ended, please log in again")).toBeInTheDocument();
  });
});
