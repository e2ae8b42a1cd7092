import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { components } from "../../../lib/api/tasks";
import { json, renderApp } from "../../../test/fakes";
import { MyTasksPage } from "./MyTasksPage";
import { TasksPage } from "./TasksPage";

type Task = components["schemas"]["Task"];
const me = "00000000-0000-7000-8000-000000000001";

function task(overrides: Partial<Task>): Task {
  return {
    id: "01956b1f-0000-7abc-8def-000000000001",
    title: "Fix the nest",
    description: "",
    status: "open",
    assignee_id: me,
    jira_id: null,
    created_at: "2026-03-03T10:00:00Z",
    updated_at: "2026-03-03T10:00:00Z",
    completed_at: null,
    ...overrides,
  };
}

const pageOf = (items: Task[]) => ({ items, page: 1, per_page: 20, total: items.length });
const people = [{ id: me, full_name: "Kesha Popugaev", role: "worker", active: true }];

describe("<TasksPage>", () => {
  it("shows a title with markup as plain characters", async () => {
    const evil = "<img src=x onerror=alert(1)>";
    const { container } = renderApp(<TasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks": () => json(pageOf([task({ title: evil })])),
        "GET /api/tasks/v1/people": () => json(people),
      },
    });
    expect(await screen.findByText(evil)).toBeInTheDocument();
    expect(container.querySelector("img")).toBeNull();
    const table = screen.getByRole("table", { name: "Tasks, newest first" });
    expect(await within(table).findByText("Kesha Popugaev (you)")).toBeInTheDocument();
    expect(screen.getByRole("option", { name: "Kesha Popugaev (you)" })).toBeInTheDocument();
  });

  it("puts the server's validation message under Title", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<TasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks": () => json(pageOf([])),
        "POST /api/tasks/v1/tasks": () =>
          json(
            {
              type: "https://ates.popug.inc/problems/validation",
              title: "Validation failed",
              status: 422,
              detail: "the request has invalid fields",
              errors: [{ field: "title", message: "must not contain '[' or ']': put the Jira id in jira_id" }],
            },
            422,
          ),
      },
    });
    await user.type(screen.getByLabelText("Title"), "[[POPUG-1] Fix");
    await user.click(screen.getByRole("button", { name: "Create task" }));
    const message = await screen.findByText("must not contain '[' or ']': put the Jira id in jira_id");
    expect(screen.getByLabelText("Title")).toHaveAccessibleDescription(expect.stringContaining(message.textContent ?? ""));
    const post = server.calls.find((r) => r.method === "POST");
    expect(post?.headers.get("Idempotency-Key")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("offers Shuffle to managers only after confirmation, then tells how many were reassigned", async () => {
    const user = userEvent.setup();
    renderApp(<TasksPage />, {
      role: "manager",
      routes: {
        "GET /api/tasks/v1/tasks": () => json(pageOf([])),
        "POST /api/tasks/v1/tasks/shuffle": () => json({ reassigned: 7 }),
      },
    });
    await user.click(screen.getByRole("button", { name: "Shuffle open tasks" }));
    const dialog = screen.getByRole("dialog");
    await user.click(within(dialog).getByRole("button", { name: "Shuffle" }));
    expect(await screen.findByText("Shuffled: 7 open tasks reassigned.")).toBeInTheDocument();
  });

  it("filters by status and assignee and pages through the total", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<TasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks": () => json({ items: [task({})], page: 1, per_page: 20, total: 45 }),
        "GET /api/tasks/v1/people": () => json(people),
      },
    });
    expect(await screen.findByText("Page 1 of 3 (45 tasks)")).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Status"), "Done");
    await user.selectOptions(screen.getByLabelText("Assignee"), "Kesha Popugaev (you)");
    await user.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByText("Page 2 of 3 (45 tasks)")).toBeInTheDocument();
    const last = new URL(server.calls.filter((r) => r.url.includes("/v1/tasks?")).at(-1)?.url ?? "");
    expect(Object.fromEntries(last.searchParams)).toEqual({ status: "done", assignee_id: me, page: "2", per_page: "20" });
  });

  it("does not offer Shuffle to a worker", async () => {
    renderApp(<TasksPage />, { role: "worker", routes: { "GET /api/tasks/v1/tasks": () => json(pageOf([])) } });
    expect(await screen.findByText(/no tasks match/)).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Shuffle/ })).not.toBeInTheDocument();
  });
});

describe("<MyTasksPage>", () => {
  it("completes an open task and shows it done at once", async () => {
    const user = userEvent.setup();
    let done = false;
    const open = task({});
    renderApp(<MyTasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks/mine": (request) => {
          const status = new URL(request.url).searchParams.get("status");
          const current = done ? task({ status: "done", completed_at: "2026-03-03T11:00:00Z" }) : open;
          return json(pageOf(current.status === status ? [current] : []));
        },
        "POST /api/tasks/v1/tasks/01956b1f-0000-7abc-8def-000000000001/complete": () => {
          done = true;
          return json(task({ status: "done" }));
        },
      },
    });
    await user.click(await screen.findByRole("button", { name: "Complete “Fix the nest”" }));
    const doneTable = await screen.findByRole("table", { name: "My done tasks" });
    expect(within(doneTable).getByText("Fix the nest")).toBeInTheDocument();
    expect(screen.getByText(/no open tasks/)).toBeInTheDocument();
  });
});
