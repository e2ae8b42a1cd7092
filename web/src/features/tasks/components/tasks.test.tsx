import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { components } from "../../../lib/api/tasks";
import { cursorPage, json, pagedList, queriesTo, renderApp } from "../../../test/fakes";
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

const other = "00000000-0000-7000-8000-000000000002";
const pageOf = (items: Task[]) => cursorPage(items);
const kesha = { id: me, full_name: "Kesha Popugaev", role: "worker", active: true };
const people = cursorPage([kesha]);
const taskNo = (n: number) => task({ id: `01956b1f-0000-7abc-8def-${String(n).padStart(12, "0")}`, title: `Task ${n}` });

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

  it("loads more tasks after the first page, and the button goes once the last page is in", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<TasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks": pagedList([[taskNo(1), taskNo(2)], [taskNo(3)]]),
        "GET /api/tasks/v1/people": () => json(people),
      },
    });
    const table = await screen.findByRole("table", { name: "Tasks, newest first" });
    expect(within(table).getByText("Task 2")).toBeInTheDocument();
    expect(within(table).queryByText("Task 3")).not.toBeInTheDocument();
    expect(screen.queryByText(/Page \d/)).not.toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Load more tasks" }));
    expect(await within(table).findByText("Task 3")).toBeInTheDocument();
    // Appended: the first page stays, in order.
    expect(within(table).getAllByRole("row").map((row) => row.querySelector(".task-name")?.textContent)).toEqual([
      undefined,
      "Task 1",
      "Task 2",
      "Task 3",
    ]);
    expect(screen.queryByRole("button", { name: /Load more/ })).not.toBeInTheDocument();
    expect(queriesTo(server.calls, "/api/tasks/v1/tasks")).toEqual([{}, { cursor: "page-1" }]);
  });

  it("starts again from the first page when a filter changes", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<TasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks": pagedList([[taskNo(1)], [taskNo(2)]]),
        "GET /api/tasks/v1/people": () => json(people),
      },
    });
    await user.click(await screen.findByRole("button", { name: "Load more tasks" }));
    const table = screen.getByRole("table", { name: "Tasks, newest first" });
    expect(await within(table).findByText("Task 2")).toBeInTheDocument();

    await user.selectOptions(screen.getByLabelText("Status"), "Done");
    await waitFor(() => expect(within(table).queryByText("Task 2")).not.toBeInTheDocument());
    expect(within(table).getByText("Task 1")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Load more tasks" })).toBeEnabled();

    await user.selectOptions(screen.getByLabelText("Assignee"), "Kesha Popugaev (you)");
    await waitFor(() => expect(queriesTo(server.calls, "/api/tasks/v1/tasks").at(-1)).toEqual({ status: "done", assignee_id: me }));
    await user.click(await screen.findByRole("button", { name: "Load more tasks" }));
    expect(await within(table).findByText("Task 2")).toBeInTheDocument();
    expect(queriesTo(server.calls, "/api/tasks/v1/tasks")).toEqual([
      {},
      { cursor: "page-1" },
      { status: "done" },
      { status: "done", assignee_id: me },
      { status: "done", assignee_id: me, cursor: "page-1" },
    ]);

    // Back to no filter at all: its first page again, not the two pages loaded before.
    await user.selectOptions(screen.getByLabelText("Status"), "Any");
    await user.selectOptions(screen.getByLabelText("Assignee"), "Anyone");
    await waitFor(() => expect(queriesTo(server.calls, "/api/tasks/v1/tasks").at(-1)).toEqual({}));
    await waitFor(() => expect(within(table).queryByText("Task 2")).not.toBeInTheDocument());
    expect(within(table).getByText("Task 1")).toBeInTheDocument();
  });

  it("names assignees from every page of people, loaded 100 at a time", async () => {
    const rio = { id: other, full_name: "Rio Popugaeva", role: "worker", active: false };
    const { server } = renderApp(<TasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks": () => json(pageOf([task({ title: "Rio's task", assignee_id: other })])),
        "GET /api/tasks/v1/people": pagedList([[rio], [kesha]]),
      },
    });
    const table = await screen.findByRole("table", { name: "Tasks, newest first" });
    expect(await within(table).findByText("Rio Popugaeva (inactive)")).toBeInTheDocument();
    // Everyone from both pages is offered, by name.
    const options = within(screen.getByLabelText("Assignee")).getAllByRole("option");
    expect(options.map((option) => option.textContent)).toEqual(["Anyone", "Kesha Popugaev (you)", "Rio Popugaeva (inactive)"]);
    expect(queriesTo(server.calls, "/api/tasks/v1/people")).toEqual([{ per_page: "100" }, { per_page: "100", cursor: "page-1" }]);
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

  it("shows no count, and loads more of a list with Load more", async () => {
    const user = userEvent.setup();
    const { server } = renderApp(<MyTasksPage />, {
      role: "worker",
      routes: {
        "GET /api/tasks/v1/tasks/mine": (request) =>
          new URL(request.url).searchParams.get("status") === "open" ? pagedList([[taskNo(1)], [taskNo(2)]])(request) : json(pageOf([])),
      },
    });
    const openTable = await screen.findByRole("table", { name: "My open tasks" });
    expect(screen.getByRole("heading", { level: 2, name: "Open" })).toBeInTheDocument();
    expect(await screen.findByText("My done tasks: none yet.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more done tasks" })).not.toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Load more open tasks" }));
    expect(await within(openTable).findByText("Task 2")).toBeInTheDocument();
    expect(within(openTable).getByText("Task 1")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more open tasks" })).not.toBeInTheDocument();
    expect(queriesTo(server.calls, "/api/tasks/v1/tasks/mine")).toEqual([{ status: "open" }, { status: "done" }, { status: "open", cursor: "page-1" }]);
  });
});
