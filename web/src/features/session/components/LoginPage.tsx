import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { ErrorText } from "../../../components/ErrorText";
import { TextField } from "../../../components/TextField";
import { useSessionState } from "../../../lib/app-context";
import { ApiError, fieldErrorsOf } from "../../../lib/problem";
import { useLogin } from "../api/session-mutations";

export interface LoginLocationState {
  notice?: string;
  from?: string;
}

export function LoginPage() {
  const state = useSessionState();
  const location = useLocation();
  const navigate = useNavigate();
  const login = useLogin();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const routed = (location.state ?? {}) as LoginLocationState;
  const notice = routed.notice ?? (state.status === "anonymous" ? state.notice : null);
  const fields = fieldErrorsOf(login.error);

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate(
      { email, password },
      {
        onSuccess: () => navigate(routed.from ?? "/my-tasks", { replace: true }),
        onError: (error) => {
          if (error instanceof ApiError && error.status === 403 && error.hasType("password-change-required")) {
            navigate("/password", { state: { email, forced: true } });
          }
        },
      },
    );
  };

  return (
    <div className="narrow">
      <title>Log in · aTES</title>
      <h1>Log in to aTES</h1>
      {notice ? (
        <p role="status" className="notice">
          {notice}
        </p>
      ) : null}
      <form onSubmit={onSubmit} noValidate>
        <TextField label="Email" type="email" autoComplete="username" value={email} onChange={setEmail} error={fields.email} required />
        <TextField label="Password" type="password" autoComplete="current-password" value={password} onChange={setPassword} error={fields.password} required />
        <ErrorText error={login.error} shownFields={["email", "password"]} />
        <button type="submit" className="primary" disabled={login.isPending}>
          {login.isPending ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        New here? <Link to="/sign-up">Sign up</Link>
      </p>
      <p>
        <Link to="/password">Change your password</Link>
      </p>
    </div>
  );
}
