import { useId, type FormEvent } from "react";
import type { Search } from "../lib/search";

// A search box: the list it goes with follows as one types (after a short pause) or on Enter.
export function SearchField({ label, search }: { label: string; search: Search }) {
  const id = useId();
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    search.submit();
  };
  return (
    <form className="field field-inline" onSubmit={onSubmit}>
      <label htmlFor={id}>{label}</label>
      <input id={id} type="search" value={search.text} maxLength={100} autoComplete="off" onChange={(event) => search.setText(event.target.value)} />
    </form>
  );
}
