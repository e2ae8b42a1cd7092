import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { ErrorText } from "../../../components/ErrorText";
import { TextField } from "../../../components/TextField";
import { useSessionState } from "../../../lib/app-context";
import { fieldErrorsOf } from "../../../lib/problem";
import { useChangePassword } from "../api/session-mutations";

export interface ChangePasswordLocationState {
  email?: string;
  forced?: boolean;
}

// Both the voluntary change and the forced one after a temporary password.
export function ChangePasswordPage() {
  const state = useSessionState();
  const location = useLocation();
  const navigate = useNavigate();
  const change = useChangePassword();
  const routed = (location.state ?? {}) as ChangePasswordLocationState;
  const signedInEmail = state.status === "authenticated" ? state.claims.email : "";
  const [email, setEmail] = useState(routed.email ?? signedInEmail);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const fields = fieldErrorsOf(change.error);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate(
      { email, current_password: current, new_password: next },
      {
        onSuccess: () => {
          setCurrent("");
          setNext("");
          setDone(true);
          if (routed.forced || state.status !== "authenticated") navigate("/my-tasks", { replace: true });
        },
      },
    );
  };

  return (
    <div className="narrow">
      <title>Change password · aTES</title>
      <h1>Change password</h1>
      {routed.forced ? (
        <p role="status" className="notice">
          Your password is temporary. Choose a new one to continue.
        </p>
      ) : null}
      {done ? (
        <p role="status" className="notice">
          Password changed. Your other sessions were logged out.
        </p>
      ) : null}
      <form onSubmit={onSubmit} noValidate>
        <TextField label="Email" type="email" autoComplete="username" value={email} onChange={setEmail} error={fields.email} required />
        <TextField
          label={routed.forced ? "Temporary password" : "Current password"}
          type="password"
          autoComplete="current-password"
          value={current}
          onChange={setCurrent}
          error={fields.current_password}
          required
        />
        <TextField
          label="New password"
          type="password"
          autoComplete="new-password"
          hint="10 to 128 characters, not the current password."
          value={next}
          onChange={setNext}
          error={fields.new_password}
          required
        />
        <ErrorText error={change.error} shownFields={["email", "current_password", "new_password"]} />
        <button type="submit" className="primary" disabled={change.isPending}>
          {change.isPending ? "Changing…" : "Change password"}
        </button>
      </form>
      {state.status !== "authenticated" ? (
        <p>
          <Link to="/">Back to log-in</Link>
        </p>
      ) : null}
    </div>
  );
}
