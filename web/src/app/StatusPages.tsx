import { Link } from "react-router";

export function NotAllowed() {
  return (
    <>
      <title>Not allowed · aTES</title>
      <h1>Not allowed</h1>
      <p>Your role may not use this screen. If you need it, ask an admin.</p>
      <p>
        <Link to="/my-tasks">Go to my tasks</Link>
      </p>
    </>
  );
}

export function NotFound() {
  return (
    <>
      <title>Page not found · aTES</title>
      <h1>Page not found</h1>
      <p>
        <Link to="/">Go to the start</Link>
      </p>
    </>
  );
}
