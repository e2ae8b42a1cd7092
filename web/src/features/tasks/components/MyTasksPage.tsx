import { ErrorText } from "../../../components/ErrorText";
import { Loading } from "../../../components/Loading";
import { LoadMore } from "../../../components/LoadMore";
import { Table, type Column } from "../../../components/Table";
import { useConfig } from "../../../lib/app-context";
import { formatDateTime } from "../../../lib/dates";
import { useCompleteTask, useMyTasks, type Task } from "../api/tasks-api";
import { TaskTitle } from "./TaskTitle";

function CompleteButton({ task }: { task: Task }) {
  const complete = useCompleteTask();
  return (
    <>
      <button type="button" onClick={() => complete.mutate(task.id)} disabled={complete.isPending} aria-label={`Complete “${task.title}”`}>
        {complete.isPending ? "Completing…" : "Complete"}
      </button>
      <ErrorText error={complete.error} />
    </>
  );
}

export function MyTasksPage() {
  const { business_timezone: timeZone } = useConfig();
  const open = useMyTasks("open");
  const done = useMyTasks("done");

  const openColumns: Column<Task>[] = [
    { header: "Task", cell: (task) => <TaskTitle task={task} /> },
    { header: "Assigned", cell: (task) => formatDateTime(task.updated_at, timeZone) },
    { header: "Action", cell: (task) => <CompleteButton task={task} /> },
  ];
  const doneColumns: Column<Task>[] = [
    { header: "Task", cell: (task) => <TaskTitle task={task} /> },
    { header: "Completed", cell: (task) => (task.completed_at ? formatDateTime(task.completed_at, timeZone) : "—") },
  ];

  return (
    <>
      <h1>My tasks</h1>
      <section aria-labelledby="my-open-tasks">
        <h2 id="my-open-tasks">Open</h2>
        {open.isPending ? <Loading what="Loading open tasks" /> : null}
        <ErrorText error={open.error} />
        {open.data ? <Table caption="My open tasks" columns={openColumns} rows={open.data} rowKey={(t) => t.id} empty="no open tasks." /> : null}
        <LoadMore
          what="open tasks"
          hasNextPage={open.hasNextPage}
          isFetchingNextPage={open.isFetchingNextPage}
          fetchNextPage={() => open.fetchNextPage()}
        />
      </section>
      <section aria-labelledby="my-done-tasks">
        <h2 id="my-done-tasks">Done</h2>
        {done.isPending ? <Loading what="Loading done tasks" /> : null}
        <ErrorText error={done.error} />
        {done.data ? <Table caption="My done tasks" columns={doneColumns} rows={done.data} rowKey={(t) => t.id} empty="none yet." /> : null}
        <LoadMore
          what="done tasks"
          hasNextPage={done.hasNextPage}
          isFetchingNextPage={done.isFetchingNextPage}
          fetchNextPage={() => done.fetchNextPage()}
        />
      </section>
    </>
  );
}
