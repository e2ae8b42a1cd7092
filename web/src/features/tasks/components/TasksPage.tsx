import { useId } from "react";
import { useSearchParams } from "react-router";
import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { LoadMore } from "../../../components/LoadMore";
import { Table, type Column } from "../../../components/Table";
import { Allowed } from "../../../lib/allowed";
import { useConfig, useSessionState } from "../../../lib/app-context";
import { formatDateTime } from "../../../lib/dates";
import { usePeople, useTasks, type Task, type TaskStatus } from "../api/tasks-api";
import { assigneeName } from "./assignee-name";
import { CreateTaskForm } from "./CreateTaskForm";
import { ShuffleControl } from "./ShuffleControl";
import { TaskTitle } from "./TaskTitle";

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
  // The pages loaded with Load more are not: a changed filter starts again from the first page.
  const update = (changes: { status?: string; assignee?: string }) => {
    const next = new URLSearchParams(params);
    // Links from before cursor paging may still carry a page number; it means nothing now.
    next.delete("page");
    for (const [name, value] of Object.entries(changes)) {
      if (value === "") next.delete(name);
      else next.set(name, value);
    }
    setParams(next, { replace: true });
  };
  const people = usePeople();
  const tasks = useTasks({ status: status || undefined, assignee_id: assignee || undefined });

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
              onChange={(event) => update({ status: event.target.value })}
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
              onChange={(event) => update({ assignee: event.target.value })}
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
            <Table caption="Tasks, newest first" columns={columns} rows={tasks.data} rowKey={(t) => t.id} empty="no tasks match." />
            <LoadMore
              what="tasks"
              hasNextPage={tasks.hasNextPage}
              isFetchingNextPage={tasks.isFetchingNextPage}
              fetchNextPage={() => tasks.fetchNextPage()}
              disabled={tasks.isPlaceholderData}
            />
          </>
        ) : null}
      </section>
      <CreateTaskForm />
    </>
  );
}
