import { useId } from "react";
import { useSearchParams } from "react-router";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { Table, type Column } from "../../../components/Table";
import { Allowed } from "../../../lib/allowed";
import { useConfig, useSessionState } from "../../../lib/app-context";
import { formatDateTime } from "../../../lib/dates";
import { usePeople, useTasks, type Task, type TaskStatus } from "../api/tasks-api";
import { assigneeName } from "./assignee-name";
import { CreateTaskForm } from "./CreateTaskForm";
import { ShuffleControl } from "./ShuffleControl";
import { TaskTitle } from "./TaskTitle";

const perPage = 20;

function parseStatus(value: string | null): TaskStatus | "" {
  return value === "open" || value === "done" ? value : "";
}

export function TasksPage() {
  const { business_timezone: timeZone } = useConfig();
  const session = useSessionState();
  const me = session.status === "authenticated" ? session.claims.sub : null;
  const statusId = useId();
  const assigneeId = useId();
  // Filters live in the URL, so a reload or a shared link shows the same list.
  const [params, setParams] = useSearchParams();
  const status = parseStatus(params.get("status"));
  const assignee = params.get("assignee") ?? "";
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const update = (changes: { status?: string; assignee?: string; page?: number }) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value === "" || value === 1) next.delete(name);
      else next.set(name, String(value));
    }
    setParams(next, { replace: true });
  };
  const people = usePeople();
  const tasks = useTasks({
    status: status || undefined,
    assignee_id: assignee || undefined,
    page,
    per_page: perPage,
  });
  const pages = tasks.data ? Math.max(1, Math.ceil(tasks.data.total / perPage)) : 1;

  const columns: Column<Task>[] = [
    { header: "Task", cell: (task) => <TaskTitle task={task} /> },
    { header: "Status", cell: (task) => (task.status === "open" ? "Open" : "Done") },
    { header: "Assignee", cell: (task) => assigneeName(task.assignee_id, people.data, me) },
    { header: "Created", cell: (task) => formatDateTime(task.created_at, timeZone) },
  ];

  return (
    <>
      <h1>Tasks</h1>
      <Allowed roles={["admin", "manager"]}>
        <ShuffleControl />
      </Allowed>
      <section aria-labelledby="all-tasks">
        <h2 id="all-tasks">All tasks</h2>
        <div className="filters">
          <div className="field field-inline">
            <label htmlFor={statusId}>Status</label>
            <select
              id={statusId}
              value={status}
              onChange={(event) => update({ status: event.target.value, page: 1 })}
            >
              <option value="">Any</option>
              <option value="open">Open</option>
              <option value="done">Done</option>
            </select>
          </div>
          <div className="field field-inline">
            <label htmlFor={assigneeId}>Assignee</label>
            <select
              id={assigneeId}
              value={assignee}
              onChange={(event) => update({ assignee: event.target.value, page: 1 })}
            >
              <option value="">Anyone</option>
              {people.data
                ? people.data.map((person) => (
                    <option key={person.id} value={person.id}>
                      {assigneeName(person.id, people.data, me)}
                    </option>
                  ))
                : me && <option value={me}>Me</option>}
            </select>
          </div>
        </div>
        {tasks.isPending ? <Loading what="Loading tasks" /> : null}
        <ErrorText error={tasks.error} />
        {tasks.data ? (
          <>
            <Table caption="Tasks, newest first" columns={columns} rows={tasks.data.items} rowKey={(t) => t.id} empty="no tasks match." />
            <nav aria-label="Task pages" className="pagination">
              <button type="button" onClick={() => update({ page: Math.max(1, page - 1) })} disabled={page <= 1}>
                Previous page
              </button>
              <span>
                Page {page} of {pages} ({tasks.data.total} {tasks.data.total === 1 ? "task" : "tasks"})
              </span>
              <button type="button" onClick={() => update({ page: page + 1 })} disabled={page >= pages}>
                Next page
              </button>
            </nav>
          </>
        ) : null}
      </section>
      <CreateTaskForm />
    </>
  );
}
