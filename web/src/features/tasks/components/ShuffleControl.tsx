import { useState } from "react";
import { ConfirmDialog } from "../../../components/ConfirmDialog";
import { ErrorText } from "../../../components/ErrorText";
import { useShuffle } from "../api/tasks-api";

export function ShuffleControl() {
  const shuffle = useShuffle();
  const [actionKey, setActionKey] = useState<string | null>(null);

  const close = () => {
    setActionKey(null);
  };

  return (
    <div className="shuffle">
      <button
        type="button"
        onClick={() => {
          shuffle.reset();
          setActionKey(crypto.randomUUID());
        }}
      >
        Shuffle open tasks
      </button>
      {shuffle.data && actionKey === null ? (
        <p role="status" className="notice">
          Shuffled: {shuffle.data.reassigned} open {shuffle.data.reassigned === 1 ? "task" : "tasks"} reassigned.
        </p>
      ) : null}
      <ConfirmDialog
        open={actionKey !== null}
        title="Shuffle every open task?"
        confirmLabel={shuffle.isError ? "Try again" : "Shuffle"}
        busy={shuffle.isPending}
        onCancel={close}
        onConfirm={() => {
          if (actionKey) shuffle.mutate(actionKey, { onSuccess: close });
        }}
      >
        <p>Every open task gets a new, randomly drawn assignee, and each new assignment charges that assignee its fee.</p>
        <ErrorText error={shuffle.error} />
      </ConfirmDialog>
    </div>
  );
}
