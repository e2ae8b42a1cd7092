import { useEffect, useState } from "react";

export const searchDelayMs = 300;

// The text of a search box and the search it stands for: typing applies after a short pause,
// Enter (`submit`) at once. `q` is trimmed; blank means "no search", and callers leave the
// parameter out then (the services refuse an empty `q`).
export function useSearch(delayMs = searchDelayMs) {
  const [text, setText] = useState("");
  const [applied, setApplied] = useState("");
  useEffect(() => {
    const timer = setTimeout(() => setApplied(text), delayMs);
    return () => clearTimeout(timer);
  }, [text, delayMs]);
  return {
    text,
    setText,
    submit: () => setApplied(text),
    q: applied.trim(),
  };
}

export type Search = ReturnType<typeof useSearch>;

// The `q` query parameter of a search: absent when blank.
export function qParam(q: string): { q?: string } {
  return q === "" ? {} : { q };
}
