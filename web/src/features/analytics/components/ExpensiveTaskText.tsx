import { Money } from "../../../components/Money";
import type { ExpensiveTask } from "../api/analytics-api";

export function ExpensiveTaskText({ task }: { task: ExpensiveTask | null | undefined }) {
  if (!task) return <span>No task was completed.</span>;
  return (
    <span>
      {task.jira_id ? <span className="jira-id">{task.jira_id} </span> : null}
      {task.title ?? "(title not known yet)"} — reward <Money cents={task.reward_cents} />
    </span>
  );
}
