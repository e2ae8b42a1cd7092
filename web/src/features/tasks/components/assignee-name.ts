import type { Person } from "../api/tasks-api";

export function assigneeName(id: string, people: readonly Person[] | undefined, me: string | null): string {
  const person = people?.find((p) => p.id === id);
  const name = person ? person.full_name + (person.active ? "" : " (inactive)") : `Account ${id.slice(0, 8)}…`;
  return id === me ? `${name} (you)` : name;
}
