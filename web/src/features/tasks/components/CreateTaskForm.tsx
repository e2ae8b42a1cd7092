import { useState, type FormEvent } from "react";
import { ErrorText } from "../../../components/ErrorText";
import { TextField } from "../../../components/TextField";
import { fieldErrorsOf } from "../../../lib/problem";
import { useCreateTask } from "../api/tasks-api";

export function CreateTaskForm() {
  const create = useCreateTask();
  const [title, setTitle] = useState("");
  const [jiraId, setJiraId] = useState("");
  const [description, setDescription] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const fields = fieldErrorsOf(create.error);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    setCreated(null);
    create.mutate(
      { title, jira_id: jiraId.trim() === "" ? null : jiraId, description },
      {
        onSuccess: (task) => {
          setTitle("");
          setJiraId("");
          setDescription("");
          setCreated(task.title);
        },
      },
    );
  };

  return (
    <section aria-labelledby="create-task">
      <h2 id="create-task">Create a task</h2>
      <form onSubmit={onSubmit} noValidate className="create-task">
        <TextField label="Title" value={title} onChange={setTitle} error={fields.title} hint="No [ or ]: put the Jira id in its own field." required />
        <TextField label="Jira id (optional)" value={jiraId} onChange={setJiraId} error={fields.jira_id} hint="Like POPUG-123." />
        <TextField label="Description" value={description} onChange={setDescription} error={fields.description} multiline />
        <ErrorText error={create.error} shownFields={["title", "jira_id", "description"]} />
        {created !== null ? (
          <p role="status" className="notice">
            Created “{created}”; it went to a randomly drawn assignee.
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create task"}
        </button>
      </form>
    </section>
  );
}
