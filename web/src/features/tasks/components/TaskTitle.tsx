import type { Task } from "../api/tasks-api";

// Titles and descriptions are text, never markup.
export function TaskTitle({ task }: { task: Task }) {
  return (
    <div className="task-title">
      <span className="task-name">
        {task.jira_id ? <span className="jira-id">{task.jira_id} </span> : null}
        {task.title}
      </span>
      {task.description ? <p className="task-description">{task.description}</p> : null}
    </div>
  );
}
