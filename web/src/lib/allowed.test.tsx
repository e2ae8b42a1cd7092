import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp } from "../test/fakes";
import { Allowed } from "./allowed";

describe("<Allowed>", () => {
  it("renders its children for a permitted role", () => {
    renderApp(
      <Allowed roles={["admin", "accountant"]} fallback={<p>Not allowed</p>}>
        <p>Balances</p>
      </Allowed>,
      { role: "accountant" },
    );
    expect(screen.getByText("Balances")).toBeInTheDocument();
    expect(screen.queryByText("Not allowed")).not.toBeInTheDocument();
  });

  it("renders the fallback for any other role", () => {
    renderApp(
      <Allowed roles={["admin"]} fallback={<p>Not allowed</p>}>
        <p>People</p>
      </Allowed>,
      { role: "manager" },
    );
    expect(screen.queryByText("People")).not.toBeInTheDocument();
    expect(screen.getByText("Not allowed")).toBeInTheDocument();
  });

  it("refuses when nobody is logged in", () => {
    renderApp(
      <Allowed roles={["admin", "manager", "accountant", "worker"]}>
        <p>My tasks</p>
      </Allowed>,
    );
    expect(screen.queryByText("My tasks")).not.toBeInTheDocument();
  });
});
