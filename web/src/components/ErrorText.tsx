import { errorText } from "../lib/problem";

// A failure shown plainly as text, announced to screen readers.
export function ErrorText({ error, shownFields }: { error: unknown; shownFields?: readonly string[] }) {
  const text = errorText(error, shownFields);
  if (!text) return null;
  return (
    <p role="alert" className="error-text">
      {text}
    </p>
  );
}
